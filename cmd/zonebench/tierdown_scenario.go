package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/fleet"
)

// scenarioTierDown kills every node of the fleet for --outage while
// callers use GetOrLoad over a stand-in origin of --origin-rate loads/s.
const scenarioTierDown = "tier-down"

const tierDownUsage = "  tier-down      GetOrLoad callers (zipf keys, --rate ops/s) over a stand-in origin that carries\n" +
	"                 --origin-rate loads/s; at 1/4 every node is killed for --outage, then restarted\n" +
	"                 empty. Reports the loads reaching the origin each second (target <= origin-rate),\n" +
	"                 the callers' outcomes (fresh, stale, fast ErrOriginBusy, other errors: 0) and the\n" +
	"                 p99 during the outage (target <= 5 ms)"

// Defaults of the tier-down scenario.
const (
	tierDownOutage     = 10 * time.Second
	tierDownOriginRate = 200
	tierDownRate       = 2000
	tierDownP99Target  = 5 * time.Millisecond
)

// tierDownFlags adds the scenario's flags to fs.
func tierDownFlags(o *demoOptions, fs *flag.FlagSet) {
	fs.DurationVar(&o.outage, "outage", tierDownOutage, "tier-down: how long every node stays dead")
	fs.IntVar(&o.originRate, "origin-rate", tierDownOriginRate, "tier-down: `loads per second` the stand-in origin carries")
}

// tierDownOptions checks and completes the scenario's options.
func tierDownOptions(o *demoOptions, fs *flag.FlagSet) error {
	if o.scenario != scenarioTierDown {
		return nil
	}
	if !flagGiven(fs, "rate") {
		o.rate = tierDownRate
	}
	if !flagGiven(fs, "duration") {
		o.duration = 3 * o.outage
	}
	if o.rate <= 0 || o.originRate < 10 || o.outage <= 0 || o.duration < o.outage*3/2 {
		return errors.New("tier-down needs --rate > 0, --origin-rate >= 10, --outage > 0 and --duration >= 1.5 x --outage")
	}
	o.gossip = false // a static topology: the nodes come back at the same addresses
	return nil
}

// tierSecond is what one second of the run saw.
type tierSecond struct {
	ops, fresh, stale, busy, errs, loads int64
}

// tierDown is one run of the scenario.
type tierDown struct {
	o      demoOptions
	f      *fleet.Fleet
	c      *client.Client
	start  time.Time
	killAt time.Duration
	backAt time.Duration

	mu       sync.Mutex
	secs     []tierSecond
	outage   *bench.Histogram // latencies of the calls made during the outage
	firstErr error
	loads    atomic.Int64 // loads reaching the origin, all run
}

// runTierDown is `zonebench demo --scenario tier-down`; it returns the exit
// code.
func runTierDown(ctx context.Context, o demoOptions, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "starting a local fleet: 3 zones x 2 zonecached nodes ...\n")
	f, err := fleet.Start(ctx, fleet.Config{Binary: o.zonecached})
	if err != nil {
		fmt.Fprintf(stderr, "zonebench demo: %v\n", err)
		return 1
	}
	defer f.Stop()
	c, err := client.New(tierDownConfig(o, f))
	if err != nil {
		fmt.Fprintf(stderr, "zonebench demo: client: %v\n", err)
		return 1
	}
	defer c.Close()
	t := &tierDown{o: o, f: f, c: c, killAt: o.duration / 4, outage: bench.NewHistogram()}
	t.backAt = t.killAt + o.outage
	t.secs = make([]tierSecond, int(o.duration/time.Second)+1)
	if err := t.prefill(ctx); err != nil {
		fmt.Fprintf(stderr, "zonebench demo: prefill: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "client in zone a: GetOrLoad at %.0f ops/s over %d zipf keys for %v; origin carries %d loads/s (client LoadRate %.0f, burst %d);\nevery node killed at %v, restarted empty at %v\n\n",
		o.rate, o.keys, o.duration, o.originRate, loadRate(o), loadBurst(o), t.killAt, t.backAt)
	t.run(ctx)
	return t.report(stdout)
}

// loadRate and loadBurst are the client's LoadRate and LoadBurst: 80 %
// of what the origin carries and a burst of 20 %, so that no second's
// loads (rate plus burst) exceed it.
func loadRate(o demoOptions) float64 { return float64(o.originRate) * 0.8 }

func loadBurst(o demoOptions) int { return max(1, o.originRate/5) }

// tierDownConfig is the client of the scenario: near cache on, loads
// bounded below the origin's capacity.
func tierDownConfig(o demoOptions, f *fleet.Fleet) client.Config {
	return client.Config{
		Zone: "a", Topology: f.Topology(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NearCache: client.NearCacheConfig{MaxBytes: 64 << 20},
		HotKeys:   client.HotKeyConfig{Enabled: true},
		LoadRate:  loadRate(o), LoadBurst: loadBurst(o),
	}
}

// value is the origin's value of key.
func value(key string) []byte { return []byte("origin-value-of-" + key) }

func tierKey(i int) string { return fmt.Sprintf("td-%d", i) }

// prefill stores every key, as a warm cache before the outage.
func (t *tierDown) prefill(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < t.o.keys; i += 8 {
				if _, err := t.c.Batch().Set(ctx, client.Item{Key: tierKey(i), Value: value(tierKey(i))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// run drives the callers, kills and restarts the fleet on time.
func (t *tierDown) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, t.o.duration)
	defer cancel()
	t.start = time.Now()
	var wg sync.WaitGroup
	workers := max(t.o.concurrency, 1)
	every := time.Duration(float64(time.Second) * float64(workers) / t.o.rate)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.worker(ctx, uint64(w), every)
		}()
	}
	t.events(ctx)
	wg.Wait()
}

// events kills every node at killAt and restarts them at backAt.
func (t *tierDown) events(ctx context.Context) {
	wait := func(at time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(t.start.Add(at))):
			return true
		}
	}
	if !wait(t.killAt) {
		return
	}
	for _, n := range t.f.Nodes() {
		n.Kill()
	}
	if !wait(t.backAt) {
		return
	}
	for _, n := range t.f.Nodes() {
		if err := t.f.Restart(ctx, n); err != nil {
			t.fail(fmt.Errorf("restart %s: %w", n.ID, err))
		}
	}
}

// worker calls GetOrLoad every interval (open loop, no catching up).
func (t *tierDown) worker(ctx context.Context, seed uint64, every time.Duration) {
	r := rand.New(rand.NewPCG(seed, 7))
	zipf := rand.NewZipf(r, 1.01, 1, uint64(t.o.keys-1))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		key := tierKey(int(zipf.Uint64()))
		began := time.Now()
		it, err := t.c.GetOrLoad(ctx, key, 10*time.Minute, t.origin(key))
		if ctx.Err() != nil {
			return
		}
		t.record(began, time.Since(began), it, err)
	}
}

// origin is the stand-in origin's loader of key: it counts the load in
// the current second.
func (t *tierDown) origin(key string) client.Loader {
	return func(context.Context) ([]byte, error) {
		t.loads.Add(1)
		t.mu.Lock()
		t.secs[t.second(time.Now())].loads++
		t.mu.Unlock()
		return value(key), nil
	}
}

func (t *tierDown) second(at time.Time) int {
	return min(int(at.Sub(t.start)/time.Second), len(t.secs)-1)
}

// record files one call's outcome under the second it began in.
func (t *tierDown) record(began time.Time, took time.Duration, it client.Item, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &t.secs[t.second(began)]
	s.ops++
	switch {
	case err == nil && string(it.Value) != string(value(it.Key)):
		s.errs++
		t.failLocked(fmt.Errorf("wrong value for %s: %q", it.Key, it.Value))
	case err == nil && it.Stale:
		s.stale++
	case err == nil:
		s.fresh++
	case errors.Is(err, client.ErrOriginBusy):
		s.busy++
	default:
		s.errs++
		t.failLocked(err)
	}
	if at := began.Sub(t.start); at >= t.killAt && at < t.backAt {
		t.outage.RecordDuration(took)
	}
}

func (t *tierDown) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failLocked(err)
}

func (t *tierDown) failLocked(err error) {
	if t.firstErr == nil {
		t.firstErr = err
	}
}

// tierSummary is the report's figures.
type tierSummary struct {
	maxLoads, maxLoadsAfter int64
	total                   tierSecond
	during                  tierSecond
	p50, p99, worst         time.Duration
}

func (t *tierDown) summary() tierSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s tierSummary
	for i, sec := range t.secs {
		s.maxLoads = max(s.maxLoads, sec.loads)
		at := time.Duration(i) * time.Second
		if at >= t.backAt {
			s.maxLoadsAfter = max(s.maxLoadsAfter, sec.loads)
		}
		add := func(dst *tierSecond) {
			dst.ops += sec.ops
			dst.fresh += sec.fresh
			dst.stale += sec.stale
			dst.busy += sec.busy
			dst.errs += sec.errs
			dst.loads += sec.loads
		}
		add(&s.total)
		if at >= t.killAt && at+time.Second <= t.backAt {
			add(&s.during)
		}
	}
	s.p50 = time.Duration(t.outage.Percentile(0.5))
	s.p99 = time.Duration(t.outage.Percentile(0.99))
	s.worst = time.Duration(t.outage.Max())
	return s
}

// report prints the per-second table and the targets; the exit code is 1
// when the origin got more than it carries or callers saw other errors.
func (t *tierDown) report(out io.Writer) int {
	s := t.summary()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "second\tops\tfresh\tstale\tbusy\terrors\torigin loads\t")
	t.mu.Lock()
	for i, sec := range t.secs {
		mark := ""
		switch at := time.Duration(i) * time.Second; {
		case at >= t.killAt && at < t.backAt:
			mark = "  tier down"
		case at >= t.backAt && at < t.backAt+time.Second:
			mark = "  nodes back (empty)"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", i, sec.ops, sec.fresh, sec.stale, sec.busy, sec.errs, sec.loads, mark)
	}
	t.mu.Unlock()
	_ = tw.Flush()
	n := int64(t.o.originRate)
	d := s.during
	fmt.Fprintf(out, "\noutage (whole seconds): %d calls: %d fresh, %d stale, %d fast ErrOriginBusy, %d other errors\n", d.ops, d.fresh, d.stale, d.busy, d.errs)
	fmt.Fprintf(out, "latency of the calls during the outage: p50 %v, p99 %v, max %v\n", s.p50, s.p99, s.worst)
	fmt.Fprint(out, "hot keys at the end (share of reads, reads/s):")
	for _, h := range t.c.HotKeys(5) {
		fmt.Fprintf(out, " %s %.1f%% %.0f/s;", h.Key, 100*h.Share, h.Rate)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "origin loads <= %d every second:\t max %d\t%s\n", n, s.maxLoads, verdict(s.maxLoads <= n))
	fmt.Fprintf(out, "refill after the return <= %d/s:\t max %d\t%s\n", n, s.maxLoadsAfter, verdict(s.maxLoadsAfter <= n))
	fmt.Fprintf(out, "p99 during the outage <= %v:\t %v\t%s\n", tierDownP99Target, s.p99, verdict(s.p99 <= tierDownP99Target))
	fmt.Fprintf(out, "other caller errors = 0:\t %d\t%s\n", s.total.errs, verdict(s.total.errs == 0))
	if t.firstErr != nil {
		fmt.Fprintf(out, "first error: %v\n", t.firstErr)
	}
	if s.maxLoads > n || s.total.errs > 0 {
		fmt.Fprintln(out, "FAIL: the origin got more than it carries, or callers saw errors")
		return 1
	}
	fmt.Fprintf(out, "OK: the origin never got more than %d loads/s; callers got a value or a fast error\n", n)
	return 0
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
