package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
)

// TestTraceKeepsTheP99sOfClosedSeconds: a closed second keeps the p99s
// of its calls and nodes and drops its histograms, so that the trace's
// memory does not grow with the run; a call ending in a closed second
// is not recorded, one in the next second is, in that second.
func TestTraceKeepsTheP99sOfClosedSeconds(t *testing.T) {
	tr := newReshardTrace()
	h := tr.hooks()
	h.OnRequest(t.Context(), client.RequestEvent{Op: "get", Duration: time.Second})
	if len(tr.secs) != 0 {
		t.Fatalf("recorded before the trace started: %d seconds", len(tr.secs))
	}
	start := time.Now()
	tr.started.Store(&start)
	h.OnRequest(t.Context(), client.RequestEvent{Op: "get", Duration: 3 * time.Millisecond})
	h.OnAttempt(t.Context(), client.AttemptEvent{Class: "online", Node: "a-1", Duration: 2 * time.Millisecond})
	h.OnAttempt(t.Context(), client.AttemptEvent{Class: "batch", Node: "a-2", Duration: time.Second})
	tr.close(0)
	s := tr.secs[0]
	if !s.closed || s.win != nil {
		t.Fatalf("closed second still holds its histograms: %+v", s)
	}
	if p := s.callP99["get"]; p < 2900*time.Microsecond || p > 3100*time.Microsecond {
		t.Fatalf("get p99 kept %v, want 3ms", p)
	}
	if node, p := slowest(s.nodeP99); node != "a-1" || p < 1900*time.Microsecond || p > 2100*time.Microsecond {
		t.Fatalf("slowest node %s %v, want a-1 2ms (batch requests left out)", node, p)
	}
	h.OnRequest(t.Context(), client.RequestEvent{Op: "get", Duration: time.Second})
	if len(tr.secs) != 1 {
		t.Fatalf("a call in the closed second opened %d seconds", len(tr.secs))
	}
	earlier := start.Add(-time.Second) // now in second 1
	tr.started.Store(&earlier)
	h.OnRequest(t.Context(), client.RequestEvent{Op: "set", Duration: 5 * time.Millisecond})
	tr.close(1)
	if p := tr.secs[1].callP99["set"]; len(tr.secs) != 2 || p < 4800*time.Microsecond || p > 5200*time.Microsecond {
		t.Fatalf("second 1: %d seconds, set p99 %v; want 2 seconds, 5ms", len(tr.secs), p)
	}
}

// TestLatencyHistQuantiles: quantiles within the buckets' 3 %, of the
// latencies recorded, from many goroutines at once.
func TestLatencyHistQuantiles(t *testing.T) {
	var h latencyHist
	if h.quantile(0.99) != 0 {
		t.Fatal("an empty histogram has a p99")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 250; i++ {
				h.record(time.Duration(g*250+i) * time.Microsecond) // 1 µs .. 1 ms, once each
			}
		}()
	}
	wg.Wait()
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		if got := h.quantile(c.q); math.Abs(float64(got-c.want)) > float64(c.want)/32 {
			t.Errorf("quantile %v = %v, want %v within 3%%", c.q, got, c.want)
		}
	}
	for _, v := range []int64{0, 1, 31, 32, 33, 1000, 1 << 39, 1 << 41} {
		if mid, i := slotMid(slotOf(v)), slotOf(v); i < 0 || i >= histSlots || (v < 1<<40 && math.Abs(float64(mid-v)) > float64(v)/32+1) {
			t.Errorf("%d ns: slot %d, middle %d", v, i, mid)
		}
	}
}

// TestRuntimeSamplerCountsEachSecondsGC: a collection between two
// samples is counted in the second sample only, with its pause.
func TestRuntimeSamplerCountsEachSecondsGC(t *testing.T) {
	s := newRuntimeSampler()
	runtime.GC()
	sec := s.next()
	if sec.gcCycles < 1 || sec.maxPause <= 0 || sec.heapLiveMB <= 0 || sec.goroutines < 1 {
		t.Fatalf("after runtime.GC: %+v, want a cycle, a pause, a live heap and goroutines", sec)
	}
	runtime.GC()
	runtime.GC()
	if sec = s.next(); sec.gcCycles < 2 {
		t.Fatalf("after two more: %d cycles, want 2 or more", sec.gcCycles)
	}
}

// TestQuantileSinceUsesOnlyTheNewSamples: the quantile is of the counts
// gained since the last read, as the upper bound of their bucket.
func TestQuantileSinceUsesOnlyTheNewSamples(t *testing.T) {
	h := &metrics.Float64Histogram{Buckets: []float64{0, 0.001, 0.002, 0.004}}
	was := []uint64{0, 0, 100}
	now := []uint64{99, 1, 100}
	if q := quantileSince(h, now, was, 0.99); q != time.Millisecond {
		t.Fatalf("p99 %v, want 1ms (the old 4ms samples left out)", q)
	}
	if q := quantileSince(h, now, was, 1); q != 2*time.Millisecond {
		t.Fatalf("max %v, want 2ms", q)
	}
	if q := quantileSince(h, was, was, 1); q != 0 {
		t.Fatalf("no new samples: %v, want 0", q)
	}
}

// TestStartProfilesWritesEachFileAsked: the demo's --cpuprofile, --trace
// and --mutexprofile each leave a non-empty file once stopped.
func TestStartProfilesWritesEachFileAsked(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "cpu"), filepath.Join(dir, "trace"), filepath.Join(dir, "mutex")}
	stop, err := startProfiles(paths[0], paths[1], paths[2])
	if err != nil {
		t.Fatal(err)
	}
	stop()
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v, want a non-empty file", p, err)
		}
	}
	if _, err := startProfiles("", filepath.Join(dir, "no-such-dir", "trace"), ""); err == nil {
		t.Error("a trace file that cannot be created: no error")
	}
}
