package bench

import "time"

// Point is one interval (normally one second) of a run's time series.
type Point struct {
	// T is the end of the interval, from the start of the measured phase.
	T time.Duration
	// Dur is the interval's length.
	Dur time.Duration
	// Ops, Errors and Late count operations completed, failed, and started
	// late (open loop) in the interval; Hits and Misses count keys read.
	Ops, Errors, Late, Hits, Misses uint64
	// P50, P99 and Max are the interval's latencies in nanoseconds.
	P50, P99, Max int64
	// Zones are per-zone counters of the interval, when the Target reports
	// them.
	Zones []ZoneStats
}

// Throughput returns the interval's operations per second.
func (p Point) Throughput() float64 { return perSecond(p.Ops, p.Dur) }

// ErrorRate returns the interval's errors per second.
func (p Point) ErrorRate() float64 { return perSecond(p.Errors, p.Dur) }

// P99Duration returns the interval's p99 latency.
func (p Point) P99Duration() time.Duration { return time.Duration(p.P99) }

// HitRatio returns hits / (hits + misses) in the interval, 0 without reads.
func (p Point) HitRatio() float64 { return ratio(p.Hits, p.Misses) }

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ratio(hits, misses uint64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+misses)
}

// PrefillResult describes a prefill phase.
type PrefillResult struct {
	// Keys is the number of keys written, Errors how many writes failed.
	Keys, Errors uint64
	// Elapsed is the phase's wall time.
	Elapsed time.Duration
}

// Result is what a run (or the merged slices of one Target in Compare)
// measured.
type Result struct {
	// Name labels the Target.
	Name string
	// Concurrency and Rate are the run's settings (Rate 0: closed loop).
	Concurrency int
	Rate        float64
	// Elapsed is the measured wall time: from the start until the last
	// worker finished.
	Elapsed time.Duration
	// Ops, Errors, Hits and Misses are totals; Hits and Misses count keys.
	Ops, Errors, Hits, Misses uint64
	// Late counts open-loop operations that started more than
	// Config.LateThreshold after they were due; Missed counts slots of the
	// timetable that were never started because the run ended first.
	Late, Missed uint64
	// OpCount and OpErrors break Ops and Errors down by Op.
	OpCount, OpErrors [numOps]uint64
	// Latency holds every operation's latency: from its due time in an open
	// loop, from its start in a closed loop.
	Latency *Histogram
	// OpLatency breaks Latency down by Op.
	OpLatency [numOps]*Histogram
	// Service holds time from actual start to completion; it equals Latency
	// in a closed loop.
	Service *Histogram
	// Lag holds how late open-loop operations started after their due time
	// (0 when on time or early): waiting for a free worker, plus the
	// harness's own scheduling delay (timer and OS wake-ups). Empty in a
	// closed loop.
	Lag *Histogram
	// Series is the per-second time series.
	Series []Point
	// Zones are per-zone counters over the measured phase, when the Target
	// reports them.
	Zones []ZoneStats
	// Events are the events that ran.
	Events []EventMark
	// ServerCPU is the CPU time the server processes used during the
	// measured phase, when the Target is a CPUReporter (else 0).
	ServerCPU time.Duration
	// ErrorSamples holds up to five distinct error messages.
	ErrorSamples []string
	// Prefill describes the prefill phase, if any.
	Prefill PrefillResult
	// Slices holds each Compare slice's throughput and p99, in order;
	// empty for Run.
	Slices []SliceStat
}

// SliceStat summarises one Compare slice of one Target.
type SliceStat struct {
	// Throughput is the slice's operations per second.
	Throughput float64
	// P99 is the slice's p99 latency in nanoseconds.
	P99 int64
}

func newResult(name string) *Result {
	r := &Result{Name: name, Latency: NewHistogram(), Service: NewHistogram(), Lag: NewHistogram()}
	for i := range r.OpLatency {
		r.OpLatency[i] = NewHistogram()
	}
	return r
}

// Throughput returns operations per second over the measured phase.
func (r *Result) Throughput() float64 { return perSecond(r.Ops, r.Elapsed) }

// HitRatio returns hits / (hits + misses) over every key read.
func (r *Result) HitRatio() float64 { return ratio(r.Hits, r.Misses) }

// ServerCPUPerOp returns the servers' CPU time per operation, 0 when
// unknown.
func (r *Result) ServerCPUPerOp() time.Duration {
	if r.Ops == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Ops)
}

const maxErrorSamples = 5

func (r *Result) addErrorSample(msg string) {
	if len(r.ErrorSamples) >= maxErrorSamples {
		return
	}
	for _, s := range r.ErrorSamples {
		if s == msg {
			return
		}
	}
	r.ErrorSamples = append(r.ErrorSamples, msg)
}

// Merge adds o's measurements to r, as Compare does with the slices of one
// Target: counts and histograms add up, o's series and events follow r's in
// time.
func (r *Result) Merge(o *Result) {
	offset := r.Elapsed
	r.Elapsed += o.Elapsed
	r.Ops += o.Ops
	r.Errors += o.Errors
	r.Hits += o.Hits
	r.Misses += o.Misses
	r.Late += o.Late
	r.Missed += o.Missed
	for i := range r.OpCount {
		r.OpCount[i] += o.OpCount[i]
		r.OpErrors[i] += o.OpErrors[i]
		r.OpLatency[i].Merge(o.OpLatency[i])
	}
	r.Latency.Merge(o.Latency)
	r.Service.Merge(o.Service)
	r.Lag.Merge(o.Lag)
	for _, p := range o.Series {
		p.T += offset
		r.Series = append(r.Series, p)
	}
	for _, e := range o.Events {
		e.At += offset
		r.Events = append(r.Events, e)
	}
	r.Zones = addZones(r.Zones, o.Zones)
	r.ServerCPU += o.ServerCPU
	for _, s := range o.ErrorSamples {
		r.addErrorSample(s)
	}
	r.Prefill.Keys += o.Prefill.Keys
	r.Prefill.Errors += o.Prefill.Errors
	r.Prefill.Elapsed += o.Prefill.Elapsed
	r.Slices = append(r.Slices, o.Slices...)
}
