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
	hist     *Histogram // the interval being closed
	prevHist *Histogram // the last appended point's interval
}

func newSampler(r *run, res *Result, zr ZoneReporter, zoneStart []ZoneStats) *sampler {
	return &sampler{r: r, res: res, zr: zr, lastZone: zoneStart, last: r.start, hist: NewHistogram(), prevHist: NewHistogram()}
}

// shortTail is the length below which the final interval of a run is
// folded into the previous point instead of becoming a point of its own,
// whose rates and percentiles would rest on a few operations.
const shortTail = 250 * time.Millisecond

// sample closes the interval that ends at now and appends its Point; final
// marks the end of the run.
func (s *sampler) sample(now time.Time, final bool) {
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
	}
	s.last = now
	if s.zr != nil {
		z := s.zr.ZoneStats()
		p.Zones = zoneDelta(z, s.lastZone)
		s.lastZone = z
	}
	if n := len(res.Series); final && n > 0 && p.Dur < shortTail {
		s.fold(&res.Series[n-1], p)
		return
	}
	if p.Dur <= 0 || (p.Ops == 0 && p.Errors == 0 && p.Dur < shortTail) {
		return
	}
	s.prevHist.Reset()
	s.prevHist.Merge(s.hist)
	p.P50, p.P99, p.Max = s.hist.Percentile(0.50), s.hist.Percentile(0.99), s.hist.Max()
	res.Series = append(res.Series, p)
	if s.r.cfg.Progress != nil {
		s.r.cfg.Progress(p)
	}
}

// fold adds the short final interval p (its latencies in s.hist) to prev.
func (s *sampler) fold(prev *Point, p Point) {
	prev.T = p.T
	prev.Dur += p.Dur
	prev.Ops += p.Ops
	prev.Errors += p.Errors
	prev.Late += p.Late
	prev.Hits += p.Hits
	prev.Misses += p.Misses
	prev.Zones = addZones(prev.Zones, p.Zones)
	s.prevHist.Merge(s.hist)
	prev.P50, prev.P99, prev.Max = s.prevHist.Percentile(0.50), s.prevHist.Percentile(0.99), s.prevHist.Max()
}
