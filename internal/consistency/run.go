package consistency

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/replication"
)

// Server is the kind of node a fleet runs.
type Server string

// The server kinds.
const (
	Zonecached Server = "zonecached" // a gossiping fleet; clients discover and follow it
	Memcached  Server = "memcached"  // stock memcached with a static topology
)

// RunConfig configures one fault's run. Zero fields take the defaults
// noted.
type RunConfig struct {
	// Fault is the fault to inject. Required.
	Fault Fault
	// Server is the kind of fleet. Required.
	Server Server
	// Zonecached and Memcached are the server binaries.
	Zonecached, Memcached string
	// WriterCommand runs a writer subprocess (the writer-exit fault): the
	// argv to which the writer's flags are appended (see WriterFlags).
	WriterCommand []string
	// Short selects the short schedule (a few seconds per phase).
	Short bool
	// Duration is the fault phase's length. Default 15 s, short 3 s; some
	// faults need longer (see the fault's description).
	Duration time.Duration
	// Settle is how long readers go on after the writer stopped, before
	// the verify reads: the convergence bound lost writes are judged
	// after. Default 5 s, short 1 s.
	Settle time.Duration
	// Window and AllowInFlight are the convergence window of Check.
	Window        time.Duration
	AllowInFlight bool
	// Policy is the clients' write policy (default all-minus-one).
	Policy replication.WritePolicy
	// Workload is the versioned workload; Keys defaults to 100 keys, 50
	// when Short.
	Workload WorkloadConfig
	// NoNetns forbids network namespaces even as root (the zone cut then
	// uses fault proxies).
	NoNetns bool
	// Log receives progress lines (default discarded); NodeLog the nodes'
	// output (default discarded).
	Log, NodeLog io.Writer
}

// Report is the outcome of one fault's run.
type Report struct {
	Fault  Fault
	Server Server
	// Schedule describes the phases as run.
	Schedule string
	// Evidence lists what was observed of the fault being injected and
	// healed, with offsets from the run's start.
	Evidence []string
	// Notes are caveats (a fallback used, a bound not reached).
	Notes  []string
	Result Result
}

// run is one fault's run in progress.
type run struct {
	cfg   RunConfig
	env   *env
	h     *History
	start time.Time
	rep   *Report

	writer     *client.Client // in-process writer's client (nil with a writer process)
	writerStop chan struct{}
	pause      Pause
	writerDone chan struct{}
	// proc is the writer process (writer-exit fault), restarted the one
	// started at the heal on the same repair spool, spoolDir.
	proc, restarted *writerProc
	spoolDir        string

	// reshard is the reshard-kill fault's reshard, from inject to heal.
	reshard *reshardFault

	readersStop chan struct{}
	readers     sync.WaitGroup
	proxies     *zoneProxies
}

func (r *run) evidence(format string, args ...any) {
	line := fmt.Sprintf("%6.1fs  ", time.Since(r.start).Seconds()) + fmt.Sprintf(format, args...)
	r.rep.Evidence = append(r.rep.Evidence, line)
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "  %s\n", line)
	}
}

func (r *run) note(format string, args ...any) {
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf(format, args...))
}

// phase marks the start of a schedule phase.
func (r *run) phase(name string) {
	r.h.MarkPhase(name, time.Now())
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "  %6.1fs  -- %s\n", time.Since(r.start).Seconds(), name)
	}
}

func (c RunConfig) withDefaults() RunConfig {
	if c.Duration <= 0 {
		c.Duration = 15 * time.Second
		if c.Short {
			c.Duration = 3 * time.Second
		}
	}
	if c.Settle <= 0 {
		c.Settle = 5 * time.Second
		if c.Short {
			c.Settle = time.Second
		}
	}
	if len(c.Workload.Keys) == 0 {
		c.Workload.Keys = Keys(100)
		if c.Short {
			c.Workload.Keys = Keys(50)
		}
	}
	return c
}

// warmup is the length of the warm-up and of the recovery phase after
// the heal, during which the writer goes on.
func (c RunConfig) warmup() time.Duration {
	if c.Short {
		return time.Second
	}
	return 3 * time.Second
}

// Run runs one fault against a fresh fleet through the whole schedule and
// returns the report with the check's result. An error means the run proves
// nothing: the fleet did not start, or the fault was not injected
// (ErrFaultNotInjected) or does not apply (ErrNotApplicable).
func Run(ctx context.Context, cfg RunConfig) (*Report, error) {
	cfg = cfg.withDefaults()
	spec, ok := faultSpecs[cfg.Fault]
	if !ok {
		return nil, fmt.Errorf("unknown fault %q: %w", cfg.Fault, ErrNotApplicable)
	}
	if !spec.applies(cfg.Server) {
		return nil, fmt.Errorf("%s on %s: %w", cfg.Fault, cfg.Server, ErrNotApplicable)
	}
	r := &run{cfg: cfg, h: NewHistory(), rep: &Report{Fault: cfg.Fault, Server: cfg.Server}}
	useNetns := spec.netns && CanUseNetns() && !cfg.NoNetns
	if spec.netns && !useNetns {
		if spec.needsNetns {
			return nil, fmt.Errorf("%s needs network namespaces (root and the ip command): %w", cfg.Fault, ErrNotApplicable)
		}
		r.note("not root (or --netns off): zone c is cut by fault proxies between the clients and its nodes, which hold its responses; requests still reach the nodes, a weaker fault than a partition")
	}
	e, err := startEnv(ctx, cfg, useNetns, spec.staticClients)
	if err != nil {
		return nil, err
	}
	defer e.close()
	r.env = e
	if spec.netns && !useNetns {
		if r.proxies, err = newZoneProxies(e, "c"); err != nil {
			return nil, err
		}
		e.follow = false
		defer r.proxies.close()
	}
	r.start = time.Now()
	defer r.removeTempDirs()
	if err := r.schedule(ctx, spec); err != nil {
		r.stopWorkload()
		return r.rep, err
	}
	cc := CheckConfig{Window: cfg.Window, AllowInFlight: cfg.AllowInFlight}
	if spec.takesReplica && cfg.Policy.Required(len(Zones)) == len(Zones) {
		cc.PolicyPhases = []string{"fault"}
	}
	r.rep.Result = Check(r.h, cc)
	return r.rep, nil
}

func (r *run) schedule(ctx context.Context, spec faultSpec) error {
	if err := r.startWorkload(ctx, spec); err != nil {
		return err
	}
	r.phase("warm-up")
	if err := backoff.Sleep(ctx, r.cfg.warmup()); err != nil {
		return err
	}
	r.phase("fault")
	faultStart := time.Now()
	if err := spec.inject(ctx, r); err != nil {
		return err
	}
	faultLen := time.Since(faultStart)
	r.phase("heal")
	r.pendingEvidence("at the heal")
	healStart := time.Now()
	if err := spec.heal(ctx, r); err != nil {
		return err
	}
	if err := backoff.Sleep(ctx, r.cfg.warmup()); err != nil {
		return err
	}
	healLen := time.Since(healStart)
	r.phase("settle")
	r.pendingEvidence("when the writer stops")
	r.stopWriter()
	if err := backoff.Sleep(ctx, r.cfg.Settle); err != nil {
		return err
	}
	r.stopReaders()
	r.phase(PhaseVerify)
	if err := r.verify(ctx); err != nil {
		return err
	}
	r.repairEvidence(healStart)
	writes := "writes go on"
	if spec.writerProcess {
		writes = "a new writer process on the dead one's repair spool"
	}
	r.rep.Schedule = fmt.Sprintf("warm-up %v, fault %.1fs, heal and recovery %.1fs (%s), settle %v (writer stopped), verify",
		r.cfg.warmup(), faultLen.Seconds(), healLen.Seconds(), writes, r.cfg.Settle)
	return nil
}

// repairEvidence notes how each writer's repairs went (its repair
// requests as its client hook saw them) and when its last one succeeded:
// a replica that missed writes serves their older values until then.
func (r *run) repairEvidence(heal time.Time) {
	type outcome struct {
		ok, failed int
		last       time.Time
	}
	by := map[string]*outcome{}
	for _, es := range r.h.nodeEventsByKey() {
		for _, e := range es {
			if e.Op != "repair" {
				continue
			}
			o := by[e.Who]
			if o == nil {
				o = &outcome{}
				by[e.Who] = o
			}
			if e.OK {
				o.ok++
				o.last = maxTime(o.last, e.At)
			} else {
				o.failed++
			}
		}
	}
	for _, who := range slices.Sorted(maps.Keys(by)) {
		o := by[who]
		last := "none succeeded"
		if o.ok > 0 {
			last = fmt.Sprintf("the last success %.2fs after the heal began", o.last.Sub(heal).Seconds())
		}
		r.evidence("%s's repair requests: %d succeeded, %d failed; %s", who, o.ok, o.failed, last)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// pendingEvidence notes the repairs the writer's client has pending.
func (r *run) pendingEvidence(when string) {
	switch {
	case r.writer != nil:
		r.evidence("%s the writer's client has %d repairs pending", when, r.writer.PendingRepairs())
	case r.restarted != nil:
		r.evidence("%s the new writer process last reported %d repairs pending", when, r.restarted.pending())
	}
}

// startWorkload starts a reader in every zone and the writer (a process
// for the writer-exit fault).
func (r *run) startWorkload(ctx context.Context, spec faultSpec) error {
	r.readersStop = make(chan struct{})
	for _, z := range Zones {
		c, err := r.env.newClient(ctx, z, func(cfg *client.Config) {
			cfg.Hooks.OnAttempt = ReaderHook(r.h, z)
			r.proxied(cfg)
		})
		if err != nil {
			return err
		}
		r.readers.Add(1)
		go func() {
			defer r.readers.Done()
			RunReader(c, z, r.cfg.Workload, r.h, r.readersStop)
		}()
	}
	if spec.writerProcess {
		dir, err := os.MkdirTemp("", "zonecache-consistency-spool-")
		if err != nil {
			return err
		}
		r.spoolDir = dir
		p, err := startWriterProc(ctx, r, nil, "writer process")
		if err != nil {
			return err
		}
		r.proc = p
		r.evidence("writer process started (pid %d) with repair spool %s", p.pid(), dir)
		return waitWriting(ctx, r, p)
	}
	c, err := r.env.newClient(ctx, Zones[0], func(cfg *client.Config) {
		cfg.Hooks.OnAttempt = InflightHook(r.h, nil)
		r.proxied(cfg)
	})
	if err != nil {
		return err
	}
	r.writer = c
	r.writerStop, r.writerDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(r.writerDone)
		RunWriters(c, r.cfg.Workload, r.h, r.writerStop, &r.pause)
	}()
	return nil
}

// proxied points a client's zone c at the fault proxies, when they are used.
func (r *run) proxied(cfg *client.Config) {
	if r.proxies != nil {
		cfg.Topology = r.proxies.topology(cfg.Topology)
	}
}

func (r *run) stopWriter() {
	if r.writerStop != nil {
		close(r.writerStop)
		<-r.writerDone
		r.writerStop = nil
	}
	if r.proc != nil {
		r.proc.kill()
	}
	if r.restarted != nil {
		r.restarted.stop(10 * time.Second)
		r.evidence("writer process %d stopped (SIGTERM: its client's Close ran what repairs it could): %s, %d repairs left", r.restarted.pid(), r.restarted.exitState(), r.restarted.pending())
		r.restarted = nil
	}
}

// removeTempDirs removes the writer processes' repair spool and the
// reshard's checkpoint, if any.
func (r *run) removeTempDirs() {
	if r.spoolDir != "" {
		_ = os.RemoveAll(r.spoolDir)
	}
	if r.reshard != nil {
		_ = os.RemoveAll(r.reshard.dir)
	}
}

func (r *run) stopReaders() {
	if r.readersStop != nil {
		close(r.readersStop)
		r.readers.Wait()
		r.readersStop = nil
	}
}

func (r *run) stopWorkload() {
	r.stopWriter()
	r.stopReaders()
}

// verify reads every key once in every zone through fresh clients that
// bootstrap from their own zone's seeds, do not fall back on a miss and do
// not repair: what each zone holds after the settle time.
func (r *run) verify(ctx context.Context) error {
	var errs []error
	for _, z := range Zones {
		c, err := r.env.newClient(ctx, z, func(cfg *client.Config) {
			cfg.DisableFallbackOnMiss, cfg.DisableReadRepair = true, true
			cfg.Hooks.OnAttempt = ReaderHook(r.h, z)
			r.proxied(cfg)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("verify client in zone %s: %w", z, err))
			continue
		}
		if r.env.follow {
			r.evidence("verify client in zone %s bootstrapped from %s: %s", z, r.env.seeds(z)[0], describe(c.Topology()))
		}
		for _, k := range r.cfg.Workload.Keys {
			ReadOnce(c, z, k, r.cfg.Workload.withDefaults().CallTimeout, r.h, PhaseVerify)
		}
	}
	return errors.Join(errs...)
}

// describe summarises a topology: nodes per zone.
func describe(t replication.Topology) string {
	var parts []string
	for _, z := range t.Zones() {
		var ids []string
		for _, n := range t.ZoneNodes(z, nil) {
			ids = append(ids, n.ID)
		}
		parts = append(parts, z+"="+strings.Join(ids, ","))
	}
	return fmt.Sprintf("epoch %d, %s", t.Epoch, strings.Join(parts, " "))
}
