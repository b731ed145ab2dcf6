package bench

import (
	"context"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

func TestMemcacheTargetAgainstMemcached(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	tg := NewMemcacheTarget(mc.Addr, 4, 5*time.Second)
	defer tg.Close()
	ctx := context.Background()

	if hit, err := tg.Get(ctx, "absent"); hit || err != nil {
		t.Fatalf("Get(absent) = %v, %v; want miss", hit, err)
	}
	if err := tg.Set(ctx, "a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := tg.Set(ctx, "b", []byte("2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if hit, err := tg.Get(ctx, "a"); !hit || err != nil {
		t.Fatalf("Get(a) = %v, %v; want hit", hit, err)
	}
	if n, err := tg.GetMulti(ctx, []string{"a", "b", "c"}); n != 2 || err != nil {
		t.Fatalf("GetMulti = %d, %v; want 2 hits", n, err)
	}
	if err := tg.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := tg.Delete(ctx, "a"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if hit, _ := tg.Get(ctx, "a"); hit {
		t.Fatal("a still there after Delete")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tg.Get(cancelled, "b"); err == nil {
		t.Fatal("Get with a cancelled context succeeded")
	}
}

func TestRunAgainstMemcached(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	tg := NewMemcacheTarget(mc.Addr, 4, 5*time.Second)
	defer tg.Close()
	cfg := Config{
		Workload:    Workload{Keys: 2000, Mix: Mix{Get: 80, Set: 10, MultiGet: 10}, Batch: 8, ValueSize: SizeRange{50, 200}, TTL: time.Hour},
		Concurrency: 4,
		Ops:         5000,
		Prefill:     true,
	}
	res, err := Run(context.Background(), cfg, "memcached", tg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prefill.Keys != 2000 || res.Prefill.Errors != 0 {
		t.Fatalf("prefill %+v", res.Prefill)
	}
	if res.Ops != 5000 || res.Errors != 0 {
		t.Fatalf("ops %d errors %d %v", res.Ops, res.Errors, res.ErrorSamples)
	}
	// Everything was prefilled with a long TTL and memcached has room: every
	// read hits.
	if res.Misses != 0 || res.Hits == 0 {
		t.Fatalf("hits %d misses %d, want only hits after the prefill", res.Hits, res.Misses)
	}
	if res.Latency.Count() != 5000 || res.Latency.Percentile(0.5) <= 0 {
		t.Fatalf("latency count %d p50 %d", res.Latency.Count(), res.Latency.Percentile(0.5))
	}
}

func TestRunWithoutPrefillMissesThenNodeKilled(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	tg := NewMemcacheTarget(mc.Addr, 2, 5*time.Second)
	defer tg.Close()
	cfg := Config{
		Workload:    Workload{Keys: 1_000_000, Mix: Mix{Get: 1}},
		Concurrency: 2,
		Duration:    3 * time.Second,
		Events: []Event{{At: time.Second, Label: "kill memcached", Do: func(context.Context) error {
			mc.Kill()
			return nil
		}}},
	}
	res, err := Run(context.Background(), cfg, "memcached", tg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Hits != 0 || res.Misses == 0 {
		t.Fatalf("hits %d misses %d: an empty cache only misses", res.Hits, res.Misses)
	}
	if res.Errors == 0 || len(res.Events) != 1 {
		t.Fatalf("errors %d events %+v: the kill must show as errors", res.Errors, res.Events)
	}
	if last := res.Series[len(res.Series)-1]; last.Errors == 0 || last.Hits+last.Misses != 0 {
		t.Fatalf("last point %+v: want only errors after the kill", last)
	}
}

func TestScenarioFrozenNodeShowsInSeries(t *testing.T) {
	// A slow node: memcached is stopped (SIGSTOP) for a while and resumed.
	// The series must show errors (client timeouts) around the event and
	// hits again after it.
	mc := testproc.StartMemcached(t, "-m", "64")
	tg := NewMemcacheTarget(mc.Addr, 2, 200*time.Millisecond)
	defer tg.Close()
	cfg := Config{
		Workload:    Workload{Keys: 100, Mix: Mix{Get: 1}},
		Concurrency: 2,
		Duration:    4 * time.Second,
		Prefill:     true,
		Events: []Event{
			{At: time.Second, Label: "freeze", Do: func(context.Context) error { mc.Freeze(); return nil }},
			{At: 2 * time.Second, Label: "thaw", Do: func(context.Context) error { mc.Thaw(); return nil }},
		},
	}
	res, err := Run(context.Background(), cfg, "memcached", tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 {
		t.Fatalf("events %+v", res.Events)
	}
	if res.Errors == 0 {
		t.Fatalf("no errors while the node was frozen; series %+v", res.Series)
	}
	last := res.Series[len(res.Series)-1]
	if last.Hits == 0 {
		t.Fatalf("no hits after the node was resumed; last point %+v", last)
	}
	// Max latency includes the stall, bounded by the client timeout.
	if res.Latency.Max() < int64(200*time.Millisecond) {
		t.Fatalf("max latency %v, want ≥ the 200 ms timeout", time.Duration(res.Latency.Max()))
	}
}

func TestMemcacheClusterTargetShards(t *testing.T) {
	a := testproc.StartMemcached(t, "-m", "64")
	b := testproc.StartMemcachedOn(t, "127.0.0.2", "-m", "64")
	cluster := NewMemcacheClusterTarget([]string{a.Addr, b.Addr}, 2, 5*time.Second)
	defer cluster.Close()
	cfg := Config{Workload: Workload{Keys: 200, Mix: Mix{Get: 1}}, Concurrency: 2, Ops: 500, Prefill: true}
	res, err := Run(context.Background(), cfg, "cluster", cluster)
	if err != nil || res.Errors != 0 || res.Misses != 0 {
		t.Fatalf("err %v errors %d misses %d", err, res.Errors, res.Misses)
	}
	// Every key lives on exactly one of the two nodes, and both hold some.
	ctx := context.Background()
	ks := newKeySpace(200, DefaultKeySize)
	counts := []int{0, 0}
	for i, addr := range []string{a.Addr, b.Addr} {
		node := NewMemcacheTarget(addr, 1, 5*time.Second)
		for k := 0; k < 200; k++ {
			if hit, err := node.Get(ctx, ks.key(k)); err != nil {
				t.Fatal(err)
			} else if hit {
				counts[i]++
			}
		}
		node.Close()
	}
	if counts[0]+counts[1] != 200 || counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("keys per node %v, want 200 split across both", counts)
	}
}

// An event with Hold keeps the workload running past the duration until
// it returns, and operations go on meanwhile; one without ends with it.
func TestHeldEventKeepsTheWorkloadRunning(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	tg := NewMemcacheTarget(mc.Addr, 2, 5*time.Second)
	defer tg.Close()
	release := make(chan struct{})
	cfg := Config{
		Workload:    Workload{Keys: 100, Mix: Mix{Get: 1}},
		Concurrency: 2,
		Duration:    500 * time.Millisecond,
		Prefill:     true,
		Events: []Event{
			{At: 100 * time.Millisecond, Label: "held step", Hold: true, Do: func(ctx context.Context) error {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			}},
			{At: 1500 * time.Millisecond, Label: "release", Do: func(context.Context) error {
				close(release)
				return nil
			}},
		},
	}
	res, err := Run(context.Background(), cfg, "memcached", tg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Elapsed < 1500*time.Millisecond {
		t.Fatalf("the run ended after %v, before the held event returned (released at 1.5 s)", res.Elapsed)
	}
	if len(res.Series) < 2 || res.Series[1].Hits == 0 || len(res.Events) != 2 || res.Events[0].Err != "" {
		t.Fatalf("series %+v (want hits in the second after the duration), events %+v", res.Series, res.Events)
	}
}
