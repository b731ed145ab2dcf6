package store

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pauseWorkload fills live items of valueLen bytes to share of MaxBytes and
// then overwrites them at random, rounds times the item count over: the
// issue's fill-and-overwrite workload, one writer.
type pauseWorkload struct {
	maxBytes int64
	share    float64
	valueLen int
	rounds   int
}

// pauses is what a pauseWorkload measured: the time of every write, the
// work (shard steps) of every write, and the longest write that rebuilt an
// index and the longest that did not.
type pauses struct {
	times              []time.Duration // thread CPU time
	walls              []time.Duration // wall time
	maxSteps           uint64
	rebuilds           int
	worstRebuild       time.Duration
	worstOther         time.Duration
	worstOtherSteps    uint64
	worstOtherFaults   int64 // page faults of that write
	worstRebuildGroups int
	worstTidy          time.Duration // a whole tidy after a write: several holds of the lock
}

func (w pauseWorkload) run(tb testing.TB) pauses {
	s := newStore(tb, Config{MaxBytes: w.maxBytes}, nil)
	n := int(w.share * float64(w.maxBytes) / float64(ItemSize(20, w.valueLen)))
	val := make([]byte, w.valueLen)
	op := Op{Action: Put, Value: [][]byte{val}}
	put := func(*Entry) Op { return op } // no allocation: no GC assist in the timed call
	key := make([]byte, 0, 32)
	rng := rand.New(rand.NewPCG(1, 2))
	ops := n * (1 + w.rounds)
	p := pauses{times: make([]time.Duration, 0, ops), walls: make([]time.Duration, 0, ops)}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := range ops {
		k := i
		if i >= n {
			k = rng.IntN(n)
		}
		key = fmt.Appendf(key[:0], "key:%016d", k)
		h := hashKey(key)
		sh := s.shardOf(h)
		steps, groups := sh.steps, sh.ix.groups()
		start := time.Now()
		cpu, faults := threadUsage()
		_, room, err := sh.update(s, h, key, put) // the write's own hold of the lock
		if err != nil {
			tb.Fatal(err)
		}
		cpu1, faults1 := threadUsage()
		d, df := cpu1-cpu, faults1-faults
		p.walls = append(p.walls, time.Since(start))
		p.times = append(p.times, d)
		ds := sh.steps - steps
		if room > 0 {
			cpu = threadCPU()
			sh.tidy(s, room) // after the write, in slices
			p.worstTidy = max(p.worstTidy, threadCPU()-cpu)
		}
		p.maxSteps = max(p.maxSteps, ds)
		if sh.ix.groups() != groups {
			p.rebuilds++
			if d > p.worstRebuild {
				p.worstRebuild, p.worstRebuildGroups = d, sh.ix.groups()
			}
		} else if d > p.worstOther {
			p.worstOther, p.worstOtherSteps, p.worstOtherFaults = d, ds, df
		}
	}
	return p
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// BenchmarkWritePauses runs the fill-and-overwrite workload at -m 64 and
// -m 1024 and reports the worst and p99.9 time of a write's own hold of the
// shard lock (thread CPU time, and wall time), the most steps
// (items rehashed, copied or evicted) one write did, and the worst write
// that rebuilt an index against the worst that did not, and the longest
// tidy after a write (several holds of the lock). Run it once:
// go test -run '^$' -bench WritePauses -benchtime 1x ./server/internal/store/
func BenchmarkWritePauses(b *testing.B) {
	for _, mb := range []int64{64, 1024} {
		for _, vl := range []int{100, 4096, 200_000} {
			b.Run(fmt.Sprintf("m=%d/value=%d", mb, vl), func(b *testing.B) {
				w := pauseWorkload{maxBytes: mb << 20, share: 0.5, valueLen: vl, rounds: 3}
				var p pauses
				for range b.N {
					p = w.run(b)
				}
				slices.Sort(p.times)
				slices.Sort(p.walls)
				b.ReportMetric(float64(p.walls[len(p.walls)-1])/1e3, "max-wall-µs")
				b.ReportMetric(float64(quantile(p.walls, 0.999))/1e3, "p99.9-wall-µs")
				b.ReportMetric(float64(len(p.times)), "writes")
				b.ReportMetric(float64(quantile(p.times, 0.999))/1e3, "p99.9-µs")
				b.ReportMetric(float64(p.times[len(p.times)-1])/1e3, "max-µs")
				b.ReportMetric(float64(p.maxSteps), "max-steps")
				b.ReportMetric(float64(p.rebuilds), "rebuilds")
				b.ReportMetric(float64(p.worstRebuild)/1e3, "max-rebuild-µs")
				b.ReportMetric(float64(p.worstRebuildGroups), "rebuild-groups")
				b.ReportMetric(float64(p.worstOther)/1e3, "max-other-µs")
				b.ReportMetric(float64(p.worstOtherSteps), "other-steps")
				b.ReportMetric(float64(p.worstOtherFaults), "other-faults")
				b.ReportMetric(float64(p.worstTidy)/1e3, "max-tidy-µs")
			})
		}
	}
}

// TestIndexWorkPerWriteIsBounded: in a 16 MiB shard (the size of a shard at
// -m 64 and at -m 1024) filled with tiny items past what its index can hold,
// no write rehashes, scans or evicts more than two tables' worth of slots and
// maxIndexEvictions items: index growth and eviction by count never walk
// the whole shard under its lock (a whole-index rebuild walked 46,000 items
// at once).
func TestIndexWorkPerWriteIsBounded(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 16 << 20}, nil)
	require.Len(t, s.shards, 1)
	sh := &s.shards[0]
	bound := uint64(2*tableMaxGroups*groupSlots + maxIndexEvictions + maxMoves + 2)
	require.Less(t, bound, uint64(sh.maxItems/32), "a table is a small part of the index")
	op := Op{Action: Put}
	put := func(*Entry) Op { return op }
	key := make([]byte, 0, 16)
	worst := uint64(0)
	n := sh.maxItems * 3 / 2
	for i := range n {
		key = fmt.Appendf(key[:0], "%09d", i) // 39-byte items: the index, not the ring, is the limit
		steps := sh.steps
		_, room, err := sh.update(s, hashKey(key), key, put) // one hold of the lock
		require.NoError(t, err)
		worst = max(worst, sh.steps-steps)
		if room > 0 {
			sh.tidy(s, room) // its own holds, a slice each (TestTidyCopiesInSlices)
		}
	}
	st := s.Stats()
	t.Logf("items %d of %d writes, evictions %d, index %d of %d groups, worst write %d steps (bound %d)",
		st.Items, n, st.Evictions, sh.ix.groups(), sh.maxGroup, worst, bound)
	assert.LessOrEqual(t, worst, bound)
	assert.Greater(t, sh.ix.footprint(), sh.maxGroup*9/10, "the index reached its cap")
	assert.NotZero(t, st.Evictions)
	assert.Zero(t, indexMismatches(sh))
}

// BenchmarkTableRebuild times the rebuild of the fullest table of a
// 16 MiB shard whose items are a page apart, so that reading a key is a
// cache miss, as under load.
func BenchmarkTableRebuild(b *testing.B) {
	s := newStore(b, Config{MaxBytes: 16 << 20}, nil)
	sh := &s.shards[0]
	val := string(make([]byte, 4000))
	for i := range 3500 {
		set(b, s, fmt.Sprintf("key:%016d", i), val, Meta{})
	}
	t := 0
	for i, tb := range sh.ix.dir {
		if tb.count > sh.ix.dir[t].count {
			t = i
		}
	}
	tb := sh.ix.dir[t]
	b.ResetTimer()
	for range b.N {
		sh.ix.resize(t, tb.groups(), sh.buf)
	}
	b.ReportMetric(float64(tb.count), "keys")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tb.count), "ns/key")
}
