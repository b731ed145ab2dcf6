package client

import (
	"context"
	"sync"
	"testing"
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
