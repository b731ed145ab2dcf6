package main

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// latencyHist counts latencies with atomic adds only, so that the client's
// workers record into one without a lock: a lock on the measured path
// makes every worker wait whenever its holder is descheduled, which is
// itself a tail latency. Buckets are log-linear, 16 to an octave, so a
// reported value is within 1/32 (3 %) of the latencies it stands for.
type latencyHist struct {
	counts [histSlots]atomic.Uint64
}

const (
	histSubBits = 4
	histSubN    = 1 << histSubBits // buckets per octave
	// histSlots covers 0 to 2^40 ns (about 18 minutes); larger values
	// count in the top bucket.
	histSlots = (40-histSubBits-1)*histSubN + 2*histSubN
)

// slotOf is the bucket of v nanoseconds.
func slotOf(v int64) int {
	u := uint64(max(v, 0))
	if u < 2*histSubN {
		return int(u)
	}
	shift := bits.Len64(u) - histSubBits - 1
	return min(shift*histSubN+int(u>>uint(shift)), histSlots-1)
}

// slotMid is the middle of bucket i, in nanoseconds.
func slotMid(i int) int64 {
	if i < 2*histSubN {
		return int64(i)
	}
	shift := i/histSubN - 1
	lo := int64(i-shift*histSubN) << uint(shift)
	return lo + int64(1)<<uint(shift)/2
}

func (h *latencyHist) record(d time.Duration) { h.counts[slotOf(int64(d))].Add(1) }

// add adds o's counts to h's.
func (h *latencyHist) add(o *latencyHist) {
	for i := range h.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
}

// count is the number of latencies recorded.
func (h *latencyHist) count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// quantile is the latency at quantile q (0: no latency recorded).
func (h *latencyHist) quantile(q float64) time.Duration {
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := max(uint64(q*float64(total)+0.5), 1)
	var seen uint64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return time.Duration(slotMid(i))
		}
	}
	return time.Duration(slotMid(histSlots - 1))
}

// latencies are one second's histograms by name (an operation, a node),
// made on first use; lookups of existing names take no lock.
type latencies struct{ m sync.Map } // string -> *latencyHist

func (l *latencies) record(name string, d time.Duration) {
	h, ok := l.m.Load(name)
	if !ok {
		h, _ = l.m.LoadOrStore(name, new(latencyHist))
	}
	h.(*latencyHist).record(d)
}

// p99s returns each name's p99, rounded to 10 µs.
func (l *latencies) p99s() map[string]time.Duration {
	out := map[string]time.Duration{}
	l.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*latencyHist).quantile(0.99).Round(10 * time.Microsecond)
		return true
	})
	return out
}
