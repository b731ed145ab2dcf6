package client

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Calls run in the online pools unless made through Batch; read repairs
// always use the batch pools.
func TestBatchUsesBatchPools(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	var mu sync.Mutex
	classes := map[string]string{}
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			mu.Lock()
			defer mu.Unlock()
			classes[e.Op+"@"+e.Zone] += e.Class[:1]
		}
	})
	reset := func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		got := classes
		classes = map[string]string{}
		return got
	}
	if _, err := c.Batch().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both replicas written", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(classes) == 2
	})
	if got := reset(); got["set@a"] != "b" || got["set@b"] != "b" {
		t.Fatalf("Batch().Set used %v; want the batch pools", got)
	}
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batch().Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := reset(); got["get@a"] != "ob" {
		t.Fatalf("Get then Batch().Get used %v; want online then batch", got)
	}
	// A local miss found in zone b: the read is online, its repair batch.
	if err := direct(t, f.proc("a0").Addr).Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "read repair", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return classes["read_repair@a"] != ""
	})
	if got := reset(); got["get@a"] != "o" || got["get@b"] != "o" || got["read_repair@a"] != "b" {
		t.Fatalf("fallback read and repair used %v", got)
	}
}

// Batch calls yield to online calls on the same node: with both running,
// batch requests wait for the online ones, and
// zonecache_client_batch_yields_total counts them.
func TestBatchYieldsToOnlineCalls(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a"}, 1)
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	c := newTestClient(t, f.topo, "a", func(c *Config) { c.Registerer = reg })
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, reg, map[string]float64{
		`zonecache_client_batch_yields_total{node="a0"}`:     0,
		`zonecache_client_batch_waiting_requests{node="a0"}`: 0,
	})
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	run := func(op func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; lctx.Err() == nil; i++ {
				op(i)
			}
		}()
	}
	for g := 0; g < 2; g++ {
		run(func(int) { _, _ = c.Get(lctx, "k") })
	}
	for g := 0; g < 8; g++ {
		run(func(i int) {
			_, _ = c.Batch().Set(lctx, Item{Key: fmt.Sprintf("bulk-%d-%d", g, i%10), Value: []byte("v")})
		})
	}
	defer func() { stop(); wg.Wait() }()
	eventually(t, "batch yields counted", func() bool {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "zonecache_client_batch_yields_total" {
				return mf.GetMetric()[0].GetCounter().GetValue() > 0
			}
		}
		return false
	})
}
