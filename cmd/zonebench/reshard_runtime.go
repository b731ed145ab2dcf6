package main

import (
	"math"
	"runtime/metrics"
	"time"
)

// runtimeSecond is what zonebench's own Go runtime did in one second of
// the run: the GC's CPU and pauses, how long runnable goroutines waited
// for a CPU, and the heap the GC keeps live. They tell the client's own
// stalls (GC, too few CPUs for its goroutines) from the fleet's.
type runtimeSecond struct {
	gcCycles   uint64
	gcCPU      time.Duration // all GC CPU: marking, assists, pauses
	maxPause   time.Duration // longest stop-the-world pause (upper bound of its bucket)
	schedP99   time.Duration // p99 of the time goroutines waited runnable
	heapLiveMB float64
	goroutines uint64
}

// The runtime/metrics the trace samples.
const (
	metricGCCycles   = "/gc/cycles/total:gc-cycles"
	metricGCCPU      = "/cpu/classes/gc/total:cpu-seconds"
	metricPauses     = "/sched/pauses/total/gc:seconds"
	metricSchedLat   = "/sched/latencies:seconds"
	metricHeapLive   = "/gc/heap/live:bytes"
	metricGoroutines = "/sched/goroutines:goroutines"
)

// runtimeSampler reads zonebench's runtime metrics once a second and
// returns each second's share of the cumulative ones.
type runtimeSampler struct {
	samples []metrics.Sample
	last    runtimeTotals
}

// runtimeTotals are the cumulative metrics at one sample.
type runtimeTotals struct {
	gcCycles uint64
	gcCPU    float64
	pauses   []uint64
	sched    []uint64
}

func newRuntimeSampler() *runtimeSampler {
	s := &runtimeSampler{}
	for _, name := range []string{metricGCCycles, metricGCCPU, metricPauses, metricSchedLat, metricHeapLive, metricGoroutines} {
		s.samples = append(s.samples, metrics.Sample{Name: name})
	}
	s.last, _ = s.read()
	return s
}

// read samples the metrics: the cumulative totals, and the gauges and
// bucket boundaries in a runtimeSecond with no deltas yet.
func (s *runtimeSampler) read() (runtimeTotals, runtimeSecond) {
	metrics.Read(s.samples)
	var t runtimeTotals
	var sec runtimeSecond
	for _, m := range s.samples {
		switch m.Name {
		case metricGCCycles:
			t.gcCycles = uint64Of(m.Value)
		case metricGCCPU:
			t.gcCPU = float64Of(m.Value)
		case metricPauses:
			t.pauses = countsOf(m.Value)
		case metricSchedLat:
			t.sched = countsOf(m.Value)
		case metricHeapLive:
			sec.heapLiveMB = float64(uint64Of(m.Value)) / 1e6
		case metricGoroutines:
			sec.goroutines = uint64Of(m.Value)
		}
	}
	return t, sec
}

// next returns what the runtime did since the last call.
func (s *runtimeSampler) next() runtimeSecond {
	now, sec := s.read()
	sec.gcCycles = now.gcCycles - s.last.gcCycles
	sec.gcCPU = time.Duration((now.gcCPU - s.last.gcCPU) * float64(time.Second))
	sec.maxPause = quantileSince(s.histogram(metricPauses), now.pauses, s.last.pauses, 1)
	sec.schedP99 = quantileSince(s.histogram(metricSchedLat), now.sched, s.last.sched, 0.99)
	s.last = now
	return sec
}

func (s *runtimeSampler) histogram(name string) *metrics.Float64Histogram {
	for _, m := range s.samples {
		if m.Name == name && m.Value.Kind() == metrics.KindFloat64Histogram {
			return m.Value.Float64Histogram()
		}
	}
	return nil
}

// quantileSince is quantile q of the samples histogram h gained since
// counts was was read, as the upper bound of its bucket (0: none).
func quantileSince(h *metrics.Float64Histogram, now, was []uint64, q float64) time.Duration {
	if h == nil || len(was) != len(now) {
		return 0
	}
	var total uint64
	for i := range now {
		total += now[i] - was[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	var seen uint64
	for i := range now {
		seen += now[i] - was[i]
		if seen >= max(rank, 1) {
			b := h.Buckets[i+1]
			if math.IsInf(b, 1) {
				b = h.Buckets[i]
			}
			return time.Duration(b * float64(time.Second))
		}
	}
	return 0
}

func uint64Of(v metrics.Value) uint64 {
	if v.Kind() == metrics.KindUint64 {
		return v.Uint64()
	}
	return 0
}

func float64Of(v metrics.Value) float64 {
	if v.Kind() == metrics.KindFloat64 {
		return v.Float64()
	}
	return 0
}

// countsOf copies a histogram's counts (the runtime reuses its slice).
func countsOf(v metrics.Value) []uint64 {
	if v.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	c := v.Float64Histogram().Counts
	return append([]uint64(nil), c...)
}
