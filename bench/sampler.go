package bench

import "time"

// sampler drains the workers' interval counters into one Point per call and
// into the run's totals. It runs on the measuring goroutine only.
type sampler struct {
	r        *run
	res      *Result
	zr       ZoneReporter
	lastZone []ZoneStats
	last     time.Time
	hist     *Histogram
}

func newSampler(r *run, res *Result, zr ZoneReporter, zoneStart []ZoneStats) *sampler {
	return &sampler{r: r, res: res, zr: zr, lastZone: zoneStart, last: r.start, hist: NewHistogram()}
}

// sample closes the interval that ends at now and appends its Point.
func (s *sampler) sample(now time.Time) {
	var c counters
	s.hist.Reset()
	for _, w := range s.r.workers {
		w.mu.Lock()
		c.add(&w.c)
		w.c = counters{}
		s.hist.Merge(w.interval)
		w.interval.Reset()
		for _, e := range w.errs {
			s.res.addErrorSample(e)
		}
		w.errs = w.errs[:0]
		w.mu.Unlock()
	}
	res := s.res
	res.Ops += c.ops
	res.Errors += c.errors
	res.Late += c.late
	res.Hits += c.hits
	res.Misses += c.misses
	for i := range c.byOp {
		res.OpCount[i] += c.byOp[i]
		res.OpErrors[i] += c.errByOp[i]
	}
	res.Latency.Merge(s.hist)

	p := Point{
		T: now.Sub(s.r.start), Dur: now.Sub(s.last),
		Ops: c.ops, Errors: c.errors, Late: c.late, Hits: c.hits, Misses: c.misses,
		P50: s.hist.Percentile(0.50), P99: s.hist.Percentile(0.99), Max: s.hist.Max(),
	}
	s.last = now
	if s.zr != nil {
		z := s.zr.ZoneStats()
		p.Zones = zoneDelta(z, s.lastZone)
		s.lastZone = z
	}
	// A final interval of a few milliseconds says little; fold it into the
	// series only when it holds operations.
	if p.Dur <= 0 || (p.Ops == 0 && p.Errors == 0 && p.Dur < 100*time.Millisecond) {
		return
	}
	res.Series = append(res.Series, p)
	if s.r.cfg.Progress != nil {
		s.r.cfg.Progress(p)
	}
}
