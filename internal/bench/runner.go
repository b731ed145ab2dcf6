package bench

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Run prefills (if asked) and then measures t under cfg, returning what it
// measured. When ctx is cancelled the run stops early and returns the
// partial result together with ctx's error.
func Run(ctx context.Context, cfg Config, name string, t Target) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	sh, err := newShared(cfg.Workload)
	if err != nil {
		return nil, err
	}
	res := newResult(name)
	if cfg.Prefill {
		res.Prefill = prefill(ctx, cfg, sh, t, res)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	warmup(ctx, cfg, sh, t)
	measure(ctx, cfg, sh, t, res, 0)
	return res, ctx.Err()
}

// warmup runs cfg's workload unmeasured for cfg.Warmup.
func warmup(ctx context.Context, cfg Config, sh *shared, t Target) {
	if cfg.Warmup <= 0 || ctx.Err() != nil {
		return
	}
	w := cfg
	w.Duration, w.Ops, w.Progress, w.Events = cfg.Warmup, 0, nil, nil
	measure(ctx, w, sh, t, newResult("warmup"), 1<<19)
}

// counters are one worker's counts since the sampler last drained them.
type counters struct {
	ops, errors, late, hits, misses uint64
	byOp, errByOp                   [numOps]uint64
}

func (c *counters) add(o *counters) {
	c.ops += o.ops
	c.errors += o.errors
	c.late += o.late
	c.hits += o.hits
	c.misses += o.misses
	for i := range c.byOp {
		c.byOp[i] += o.byOp[i]
		c.errByOp[i] += o.errByOp[i]
	}
}

// worker is one load-generating goroutine's state. mu guards interval, c
// and errs, which the sampler drains once a second; the lock is uncontended
// otherwise.
type worker struct {
	mu       sync.Mutex
	interval *Histogram
	c        counters
	errs     []string

	// ctx is the run's context, derived once for this worker: the
	// operations' contexts (and what the target hangs on them, such as
	// context.AfterFunc) register with it, not all with the run's one,
	// whose lock the workers would otherwise contend for on every call.
	ctx     context.Context
	g       *gen
	opLat   [numOps]*Histogram // owned by the worker until it ends
	service *Histogram
	lag     *Histogram
}

// newWorker returns a worker drawing from random stream stream. To keep
// memory per worker small it has latency histograms only for the operations
// of the mix, and a lag histogram only in an open loop.
func newWorker(sh *shared, cfg Config, stream uint64) *worker {
	w := &worker{interval: NewHistogram(), service: NewHistogram(), g: newGen(sh, stream)}
	for op, weight := range sh.w.Mix.weights() {
		if weight > 0 {
			w.opLat[op] = NewHistogram()
		}
	}
	if cfg.Rate > 0 {
		w.lag = NewHistogram()
	}
	return w
}

// run is the state of one measured phase.
type run struct {
	cfg     Config
	sh      *shared
	t       Target
	ctx     context.Context
	start   time.Time
	end     time.Time    // closed or open loop by duration: no new op after this
	held    atomic.Int32 // events with Hold not yet returned: the run goes on past end
	slots   int64        // open loop: operations on the timetable
	next    atomic.Int64
	workers []*worker
}

// measure runs the measured phase and fills res. stream offsets the random
// streams so Compare's slices draw different keys.
func measure(ctx context.Context, cfg Config, sh *shared, t Target, res *Result, stream uint64) {
	r := &run{cfg: cfg, sh: sh, t: t, ctx: ctx}
	res.Concurrency, res.Rate = cfg.Concurrency, cfg.Rate
	r.workers = make([]*worker, cfg.Concurrency)
	for i := range r.workers {
		r.workers[i] = newWorker(sh, cfg, stream<<20|uint64(i+1))
	}
	if cfg.Rate > 0 {
		r.slots = cfg.Ops
		if r.slots == 0 {
			r.slots = int64(cfg.Duration.Seconds() * cfg.Rate)
		}
	}
	zr, _ := t.(ZoneReporter)
	var zoneStart []ZoneStats
	if zr != nil {
		zoneStart = zr.ZoneStats()
	}

	cpu, _ := t.(CPUReporter)
	var cpuStart time.Duration
	var cpuErr error
	if cpu != nil {
		cpuStart, cpuErr = cpu.ServerCPU()
	}

	r.start = time.Now()
	if cfg.Ops == 0 {
		r.end = r.start.Add(cfg.Duration)
	}
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cancel context.CancelFunc
			w.ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			if cfg.Rate > 0 {
				r.openLoop(w)
			} else {
				r.closedLoop(w)
			}
		}()
	}
	evCtx, stopEvents := context.WithCancel(ctx)
	marks := r.startEvents(evCtx)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	s := newSampler(r, res, zr, zoneStart)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case now := <-tick.C:
			s.sample(now, false)
		}
	}
	finish := time.Now()
	s.sample(finish, true)
	stopEvents()
	res.Events = append(res.Events, marks()...)
	slices.SortFunc(res.Events, func(a, b EventMark) int { return cmp.Compare(a.At, b.At) })
	res.Elapsed = finish.Sub(r.start)
	if r.slots > 0 && uint64(r.slots) > res.Ops {
		// Every started operation is counted in Ops; a slot that was
		// claimed but not started before the end is missed too.
		res.Missed = uint64(r.slots) - res.Ops
	}
	if zr != nil {
		res.Zones = zoneDelta(zr.ZoneStats(), zoneStart)
	}
	if cpu != nil && cpuErr == nil {
		if end, err := cpu.ServerCPU(); err == nil {
			res.ServerCPU = end - cpuStart
		} else {
			res.addErrorSample("server cpu: " + err.Error())
		}
	} else if cpuErr != nil {
		res.addErrorSample("server cpu: " + cpuErr.Error())
	}
	for _, w := range r.workers {
		for i, h := range w.opLat {
			if h != nil {
				res.OpLatency[i].Merge(h)
			}
		}
		res.Service.Merge(w.service)
		if w.lag != nil {
			res.Lag.Merge(w.lag)
		}
	}
}

// stop reports whether no further operation may start at now.
func (r *run) stop(now time.Time) bool {
	return r.ctx.Err() != nil || (!r.end.IsZero() && !now.Before(r.end) && r.held.Load() == 0)
}

func (r *run) closedLoop(w *worker) {
	// The previous operation's end time serves as the clock for the stop
	// check, which saves a clock read per operation.
	now := time.Now()
	for {
		if r.cfg.Ops > 0 && r.next.Add(1) > r.cfg.Ops {
			return
		}
		if r.stop(now) {
			return
		}
		now = r.do(w, w.g.op(), time.Time{}, now)
	}
}

func (r *run) openLoop(w *worker) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	perSlot := float64(time.Second) / r.cfg.Rate
	for {
		i := r.next.Add(1) - 1
		if i >= r.slots {
			return
		}
		due := r.start.Add(time.Duration(float64(i) * perSlot))
		op := w.g.op()
		now := time.Now()
		for wait := due.Sub(now) - r.cfg.EarlyStart; wait > 0; wait = due.Sub(now) - r.cfg.EarlyStart {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-r.ctx.Done():
				return
			}
			now = time.Now()
		}
		if r.stop(now) {
			return
		}
		r.do(w, op, due, now)
	}
}

// do performs one operation, due at due (zero in a closed loop) and started
// at start, records it and returns when it ended.
func (r *run) do(w *worker, op Op, due, start time.Time) time.Time {
	ctx := w.ctx
	if r.cfg.OpTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.OpTimeout)
		defer cancel()
	}
	var hits, misses int
	var err error
	var began time.Time
	switch op {
	case OpGet:
		key := w.g.key()
		began = time.Now()
		var hit bool
		hit, err = r.t.Get(ctx, key)
		if hit {
			hits = 1
		} else if err == nil {
			misses = 1
		}
	case OpSet:
		key, val := w.g.key(), w.g.value()
		began = time.Now()
		err = r.t.Set(ctx, key, val, r.sh.w.TTL)
	case OpDelete:
		key := w.g.key()
		began = time.Now()
		err = r.t.Delete(ctx, key)
	case OpMultiGet:
		keys := w.g.multiKeys()
		began = time.Now()
		hits, err = r.t.GetMulti(ctx, keys)
		if err == nil {
			misses = len(keys) - hits
		}
	}
	end := time.Now()
	// An open loop measures from the due time, so time spent waiting for a
	// free worker counts. A closed loop (due is zero) measures from the
	// actual start, and so does an open-loop operation that started early.
	from := due
	if due.IsZero() || began.Before(due) {
		from = began
	}
	latency := end.Sub(from)
	w.opLat[op].RecordDuration(latency)
	w.service.RecordDuration(end.Sub(began))
	if w.lag != nil {
		w.lag.RecordDuration(start.Sub(due))
	}

	w.mu.Lock()
	w.interval.RecordDuration(latency)
	c := &w.c
	c.ops++
	c.byOp[op]++
	c.hits += uint64(hits)
	c.misses += uint64(misses)
	if !due.IsZero() && start.Sub(due) > r.cfg.LateThreshold {
		c.late++
	}
	if err != nil && r.ctx.Err() == nil {
		c.errors++
		c.errByOp[op]++
		if len(w.errs) < maxErrorSamples {
			w.errs = append(w.errs, fmt.Sprintf("%s: %v", op, err))
		}
	}
	w.mu.Unlock()
	return end
}

// startEvents starts one goroutine per event; the returned function waits
// for them and returns their marks.
func (r *run) startEvents(ctx context.Context) func() []EventMark {
	var mu sync.Mutex
	var marks []EventMark
	var wg sync.WaitGroup
	for _, ev := range r.cfg.Events {
		wg.Add(1)
		if ev.Hold {
			r.held.Add(1)
		}
		go func() {
			defer wg.Done()
			if ev.Hold {
				defer r.held.Add(-1)
			}
			t := time.NewTimer(time.Until(r.start.Add(ev.At)))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m := EventMark{At: time.Since(r.start), Label: ev.Label}
			if ev.Do != nil {
				if err := ev.Do(ctx); err != nil {
					m.Err = err.Error()
				}
			}
			mu.Lock()
			marks = append(marks, m)
			mu.Unlock()
		}()
	}
	return func() []EventMark {
		wg.Wait()
		return marks
	}
}
