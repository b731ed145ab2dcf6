package bench

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTarget is an in-process Target for testing the harness itself (not a
// cache): it remembers keys and can be made slow or failing.
type fakeTarget struct {
	mu    sync.Mutex
	data  map[string]int
	delay time.Duration
	fail  atomic.Bool
	calls atomic.Int64

	// observe, if set, sees the keys of every call as the call begins;
	// calls to it are serialised by obsMu.
	observe func(keys []string)
	obsMu   sync.Mutex
}

func newFake(delay time.Duration) *fakeTarget {
	return &fakeTarget{data: map[string]int{}, delay: delay}
}

var errFake = errors.New("fake failure")

func (f *fakeTarget) enter(keys ...string) error {
	f.calls.Add(1)
	if f.observe != nil {
		f.obsMu.Lock()
		f.observe(keys)
		f.obsMu.Unlock()
	}
	if f.delay > 0 {
		time.Sleep(f.delay) // simulated service time; only ever longer
	}
	if f.fail.Load() {
		return errFake
	}
	return nil
}

func (f *fakeTarget) Get(ctx context.Context, key string) (bool, error) {
	if err := f.enter(key); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.data[key]
	return ok, nil
}

func (f *fakeTarget) GetMulti(ctx context.Context, keys []string) (int, error) {
	if err := f.enter(keys...); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]bool{}
	hits := 0
	for _, k := range keys {
		if seen[k] {
			return 0, errors.New("duplicate key in batch")
		}
		seen[k] = true
		if _, ok := f.data[k]; ok {
			hits++
		}
	}
	return hits, nil
}

func (f *fakeTarget) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := f.enter(key); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[key] = len(value)
	return nil
}

func (f *fakeTarget) Delete(ctx context.Context, key string) error {
	if err := f.enter(key); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.data, key)
	return nil
}

func (f *fakeTarget) Close() error { return nil }

func TestClosedLoopOpsCountAndMix(t *testing.T) {
	f := newFake(0)
	cfg := Config{
		Workload:    Workload{Keys: 500, Mix: Mix{Get: 50, Set: 30, Delete: 10, MultiGet: 10}, Batch: 5, ValueSize: SizeRange{10, 20}},
		Concurrency: 4,
		Ops:         20_000,
		Prefill:     true,
	}
	res, err := Run(context.Background(), cfg, "fake", f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prefill.Keys != 500 || res.Prefill.Errors != 0 {
		t.Fatalf("prefill %+v, want 500 keys, no errors", res.Prefill)
	}
	if res.Ops != 20_000 || f.calls.Load() != 20_000+500 {
		t.Fatalf("ops %d, target calls %d; want 20000 ops and 20500 calls", res.Ops, f.calls.Load())
	}
	if res.Errors != 0 || res.Latency.Count() != res.Ops {
		t.Fatalf("errors %d (%v), latency count %d", res.Errors, res.ErrorSamples, res.Latency.Count())
	}
	want := map[Op]float64{OpGet: 0.5, OpSet: 0.3, OpDelete: 0.1, OpMultiGet: 0.1}
	for op, share := range want {
		got := float64(res.OpCount[op]) / float64(res.Ops)
		if got < share-0.03 || got > share+0.03 {
			t.Errorf("%s share %.3f, want %.2f ± 0.03", op, got, share)
		}
	}
	// Keys read: gets (1 each) and multi-gets (5 distinct each).
	if reads := res.Hits + res.Misses; reads != res.OpCount[OpGet]+5*res.OpCount[OpMultiGet] {
		t.Errorf("keys read %d, want %d", reads, res.OpCount[OpGet]+5*res.OpCount[OpMultiGet])
	}
	// Deletes make some reads miss; the prefill makes most hit.
	if hr := res.HitRatio(); hr < 0.3 || hr >= 1 {
		t.Errorf("hit ratio %.3f, want in [0.3, 1)", hr)
	}
	var seriesOps uint64
	for _, p := range res.Series {
		seriesOps += p.Ops
	}
	if seriesOps != res.Ops {
		t.Errorf("series holds %d ops, total %d", seriesOps, res.Ops)
	}
}

func TestClosedLoopDurationAndErrors(t *testing.T) {
	f := newFake(0)
	f.fail.Store(true)
	res, err := Run(context.Background(), Config{Workload: Workload{Keys: 100}, Concurrency: 2, Duration: 1500 * time.Millisecond}, "failing", f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Errors != res.Ops {
		t.Fatalf("ops %d errors %d: every operation must fail", res.Ops, res.Errors)
	}
	if len(res.ErrorSamples) == 0 {
		t.Fatal("no error sample kept")
	}
	if res.Elapsed < 1500*time.Millisecond {
		t.Fatalf("elapsed %v shorter than the duration", res.Elapsed)
	}
	if len(res.Series) < 1 {
		t.Fatalf("series has %d points", len(res.Series))
	}
}

func TestOpenLoopIssuesScheduleAtRate(t *testing.T) {
	// A modest rate against an instant target: 600 calls due over 3 s.
	f := newFake(0)
	var began []time.Time
	f.observe = func([]string) { began = append(began, time.Now()) }
	const rate, ops = 200.0, 600
	start := time.Now() // no later than the runner's own start
	res, err := Run(context.Background(), Config{Workload: Workload{Keys: 100}, Concurrency: 8, Rate: rate, Ops: ops}, "open", f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != ops || res.Missed != 0 || len(began) != ops {
		t.Fatalf("ops %d missed %d calls %d, want %d, 0 and %d", res.Ops, res.Missed, len(began), ops, ops)
	}
	// The last operation is due at (ops-1)/rate; it may start EarlyStart
	// early, never earlier. A closed loop would finish in milliseconds.
	minElapsed := time.Duration(float64(ops-1)/rate*float64(time.Second)) - DefaultEarlyStart
	if res.Elapsed < minElapsed {
		t.Fatalf("elapsed %v < %v: operations ran ahead of the timetable", res.Elapsed, minElapsed)
	}
	if res.Elapsed > minElapsed+20*time.Second {
		t.Fatalf("elapsed %v: far behind the timetable", res.Elapsed)
	}
	// Each call, in the order the target saw them, against the earliest
	// slot it can have: none ahead of the timetable, and the calls spread
	// over the run as the timetable is, not sleeping and then bursting.
	lags := scheduleLags(began, start, rate)
	if lags[0] < -DefaultEarlyStart {
		t.Fatalf("a call started %v ahead of its slot", -lags[0])
	}
	iqr := lags[len(lags)*3/4] - lags[len(lags)/4]
	t.Logf("start lags: min %v, interquartile spread %v, max %v", lags[0], iqr, lags[len(lags)-1])
	if iqr > maxLagSpread {
		t.Fatalf("start lags spread over %v (interquartile), want ≤ %v: the calls came in bursts (lags %v … %v)",
			iqr, maxLagSpread, lags[0], lags[len(lags)-1])
	}
}

// maxLagSpread bounds the interquartile range of an open loop's start lags
// (scheduleLags) on a 3 s timetable. A steady timetable keeps it near zero,
// even with the scheduling hiccups of a loaded machine, which delay a few
// calls, not a quarter of them; a loop that sleeps and then bursts spreads
// it over its sleeps: 1.5 s for one burst at the end, 0.5 s for one a
// second.
const maxLagSpread = 250 * time.Millisecond

// scheduleLags sorts began, the start times of calls on a timetable of
// rate per second that began at start, and returns each call's lag behind
// the earliest slot it can have had: the i-th call to start (0-based) was
// due no earlier than start + i/rate, since the i+1 first calls had
// distinct slots. The lags come sorted.
func scheduleLags(began []time.Time, start time.Time, rate float64) []time.Duration {
	sorted := slices.SortedFunc(slices.Values(began), time.Time.Compare)
	lags := make([]time.Duration, len(sorted))
	for i, at := range sorted {
		lags[i] = at.Sub(start) - time.Duration(float64(i)/rate*float64(time.Second))
	}
	slices.Sort(lags)
	return lags
}

func TestScheduleLagsCatchBursts(t *testing.T) {
	// The check above must be able to fail: calls of a 3 s timetable at
	// 200/s issued in a burst at its end, or in one burst a second.
	start := time.Unix(1_700_000_000, 0)
	for name, at := range map[string]func(i int) time.Duration{
		"one burst at the end": func(int) time.Duration { return 3 * time.Second },
		"a burst a second":     func(i int) time.Duration { return time.Duration(i/200+1) * time.Second },
		"on time":              func(i int) time.Duration { return time.Duration(i) * 5 * time.Millisecond },
	} {
		began := make([]time.Time, 600)
		for i := range began {
			began[i] = start.Add(at(i))
		}
		lags := scheduleLags(began, start, 200)
		iqr := lags[len(lags)*3/4] - lags[len(lags)/4]
		if onTime := name == "on time"; onTime != (iqr <= maxLagSpread) {
			t.Errorf("%s: interquartile lag spread %v vs bound %v", name, iqr, maxLagSpread)
		}
	}
}

func TestOpenLoopByDurationCountsEverySlot(t *testing.T) {
	f := newFake(0)
	res, err := Run(context.Background(), Config{Workload: Workload{Keys: 100}, Concurrency: 4, Rate: 500, Duration: time.Second}, "open", f)
	if err != nil {
		t.Fatal(err)
	}
	// Every slot of the timetable is either issued or missed.
	if res.Ops+res.Missed != 500 {
		t.Fatalf("ops %d + missed %d != 500 slots", res.Ops, res.Missed)
	}
	if res.Ops < 100 {
		t.Fatalf("only %d of 500 slots issued against an instant target", res.Ops)
	}
}

func TestOpenLoopLatencyIncludesQueueing(t *testing.T) {
	// One worker, a target that needs ≥ 5 ms per call, and a timetable of
	// 1000 calls/s: 100 calls cannot finish before 0.5 s, although the last
	// is due at 0.099 s. Latency measured from the due time must show the
	// queueing, service time must not.
	f := newFake(5 * time.Millisecond)
	res, err := Run(context.Background(), Config{Workload: Workload{Keys: 100}, Concurrency: 1, Rate: 1000, Ops: 100}, "slow", f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 100 {
		t.Fatalf("ops %d, want 100", res.Ops)
	}
	// Call i starts no earlier than i·5 ms and was due at i ms, so it
	// waited ≥ 4·i ms; the worst waited ≥ 396 ms.
	if got := time.Duration(res.Latency.Max()); got < 390*time.Millisecond {
		t.Fatalf("max latency %v: queueing behind the slow target is hidden", got)
	}
	if p50 := time.Duration(res.Latency.Percentile(0.5)); p50 < 150*time.Millisecond {
		t.Fatalf("p50 latency %v, want ≥ 150 ms of queueing", p50)
	}
	if res.Late < 90 {
		t.Fatalf("late %d, want ≥ 90 of 100 slots late", res.Late)
	}
	if lag := time.Duration(res.Lag.Max()); lag < 390*time.Millisecond-5*time.Millisecond {
		t.Fatalf("max start lag %v, want ≈ the queueing", lag)
	}
	if svc := time.Duration(res.Service.Percentile(0.5)); svc < 5*time.Millisecond || svc >= time.Duration(res.Latency.Percentile(0.5)) {
		t.Fatalf("service p50 %v, want ≥ 5 ms and below latency p50 %v", svc, time.Duration(res.Latency.Percentile(0.5)))
	}
}

func TestClosedLoopHidesWhatOpenLoopShows(t *testing.T) {
	// The same slow target in a closed loop: latency is the service time.
	f := newFake(5 * time.Millisecond)
	res, err := Run(context.Background(), Config{Workload: Workload{Keys: 100}, Concurrency: 1, Ops: 50}, "slow", f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Latency.Min() < int64(5*time.Millisecond) {
		t.Fatalf("min latency %v below the 5 ms service time", time.Duration(res.Latency.Min()))
	}
	if res.Late != 0 || res.Missed != 0 || res.Lag.Count() != 0 {
		t.Fatalf("closed loop counted late %d missed %d lag %d", res.Late, res.Missed, res.Lag.Count())
	}
}

func TestEventsRunAndMark(t *testing.T) {
	f := newFake(0)
	var fired atomic.Bool
	cfg := Config{Workload: Workload{Keys: 100}, Concurrency: 2, Duration: 3 * time.Second,
		Events: []Event{{At: 300 * time.Millisecond, Label: "break", Do: func(context.Context) error {
			f.fail.Store(true)
			fired.Store(true)
			return nil
		}}}}
	res, err := Run(context.Background(), cfg, "fake", f)
	if err != nil {
		t.Fatal(err)
	}
	if !fired.Load() || len(res.Events) != 1 || res.Events[0].Label != "break" || res.Events[0].At < 300*time.Millisecond {
		t.Fatalf("events %+v", res.Events)
	}
	if res.Errors == 0 || res.Errors == res.Ops {
		t.Fatalf("errors %d of %d: want errors after the event only", res.Errors, res.Ops)
	}
	// The last point is after the event: all its operations fail.
	last := res.Series[len(res.Series)-1]
	if last.Errors != last.Ops {
		t.Fatalf("last point %+v: want only errors", last)
	}
}

func TestRunCancelledReturnsPartial(t *testing.T) {
	f := newFake(time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{Workload: Workload{Keys: 100}, Concurrency: 2, Duration: time.Hour,
		Progress: func(Point) { cancel() }}
	res, err := Run(ctx, cfg, "fake", f)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if res == nil || res.Ops == 0 || res.Errors != 0 {
		t.Fatalf("partial result %+v", res)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Concurrency: -1},
		{Rate: -5},
		{Workload: Workload{Keys: 1000, KeySize: 3}},
		{Workload: Workload{Dist: "pareto"}},
		{Workload: Workload{Keys: 5, Batch: 10, Mix: Mix{MultiGet: 1}}},
		{Workload: Workload{ValueSize: SizeRange{10, 5}}},
		{Rate: 0.1, Duration: time.Second},
	} {
		if _, err := Run(context.Background(), cfg, "x", newFake(0)); !errors.Is(err, ErrInvalidWorkload) {
			t.Errorf("config %+v: err %v, want ErrInvalidWorkload", cfg, err)
		}
	}
}

func TestKeysHaveFixedSize(t *testing.T) {
	ks := newKeySpace(1234, 12)
	seen := map[string]bool{}
	for i := 0; i < 1234; i++ {
		k := ks.key(i)
		if len(k) != 12 || k[0] != 'k' {
			t.Fatalf("key %d = %q", i, k)
		}
		seen[k] = true
	}
	if len(seen) != 1234 || ks.key(1233) != "k00000001233" {
		t.Fatalf("distinct %d, last %q", len(seen), ks.key(1233))
	}
}

func TestGeneratorDoesNotAllocate(t *testing.T) {
	sh, err := newShared(Workload{Keys: 10_000, Dist: Zipfian, Mix: Mix{Get: 1, MultiGet: 1}, Batch: 20, ValueSize: SizeRange{1, 500}})
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(sh, 1)
	g.multiKeys() // grow the reused buffers
	if n := testing.AllocsPerRun(1000, func() { _ = g.op(); _ = g.key(); _ = g.value(); _ = g.multiKeys() }); n != 0 {
		t.Fatalf("generator allocates %v times per operation", n)
	}
}

func TestMultiKeysAreDistinct(t *testing.T) {
	for _, tc := range []struct {
		keys, batch int
		dist        Dist
	}{{100, 10, Uniform}, {100, 10, Zipfian}, {50, 50, Zipfian}, {1000, 200, Zipfian}, {200, 200, Uniform}} {
		sh, err := newShared(Workload{Keys: tc.keys, Batch: tc.batch, Dist: tc.dist, Skew: 1.5, Mix: Mix{MultiGet: 1}})
		if err != nil {
			t.Fatal(err)
		}
		g := newGen(sh, 3)
		for round := 0; round < 50; round++ {
			keys := g.multiKeys()
			seen := map[string]bool{}
			for _, k := range keys {
				if seen[k] {
					t.Fatalf("keys=%d batch=%d %s: %q twice in %v", tc.keys, tc.batch, tc.dist, k, keys)
				}
				seen[k] = true
			}
			if len(keys) != tc.batch {
				t.Fatalf("batch of %d keys, want %d", len(keys), tc.batch)
			}
		}
	}
}

func TestOpenLoopCountsMissedSlots(t *testing.T) {
	// Two workers and a target needing ≥ 5 ms per call can start at most
	// ~400 of the 1000 slots due in one second; the rest are missed.
	f := newFake(5 * time.Millisecond)
	res, err := Run(context.Background(), Config{Workload: Workload{Keys: 100}, Concurrency: 2, Rate: 1000, Duration: time.Second}, "slow", f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops+res.Missed != 1000 {
		t.Fatalf("ops %d + missed %d != 1000 slots", res.Ops, res.Missed)
	}
	if res.Missed < 500 || res.Ops == 0 {
		t.Fatalf("ops %d missed %d: want most slots missed", res.Ops, res.Missed)
	}
}

func TestShortFinalIntervalIsFolded(t *testing.T) {
	res, err := Run(context.Background(), Config{Workload: Workload{Keys: 100}, Concurrency: 2, Duration: 1100 * time.Millisecond}, "fake", newFake(0))
	if err != nil {
		t.Fatal(err)
	}
	// One point at ~1 s plus a ~0.1 s tail: the tail joins the point.
	if len(res.Series) != 1 {
		t.Fatalf("%d points, want 1: %+v", len(res.Series), res.Series)
	}
	p := res.Series[0]
	if p.Ops != res.Ops || p.T < 1100*time.Millisecond || p.Dur < 1100*time.Millisecond || p.Max != res.Latency.Max() {
		t.Fatalf("point %+v, total ops %d max %d", p, res.Ops, res.Latency.Max())
	}
}
