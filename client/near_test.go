package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// nearOn turns the near cache on with ttl, and makes writes return once
// every replica has them (a Set's background replica write would drop the
// entry a Get just after it cached).
func nearOn(ttl time.Duration) func(*Config) {
	return func(cfg *Config) {
		cfg.NearCache = NearCacheConfig{MaxBytes: 1 << 20, TTL: ttl}
		cfg.WritePolicy = replication.All
	}
}

func allPolicy(cfg *Config) { cfg.WritePolicy = replication.All }

// nearCount returns the near-cache lookups of c with result.
func nearCount(c *Client, result string) float64 {
	return testutil.ToFloat64(c.c.metrics.near.WithLabelValues(result))
}

// Within its TTL a near-cache entry is served without asking a replica,
// even after another process's write; the client's own write drops it at
// once.
func TestNearCacheServesWithinTTLAndDropsOnOwnWrite(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	near := newTestClient(t, f.topo, "a", nearOn(time.Hour))
	other := newTestClient(t, f.topo, "a", allPolicy)
	ctx := testCtx(t)
	if _, err := other.Set(ctx, Item{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	if it, err := near.Get(ctx, "k"); err != nil || string(it.Value) != "v1" {
		t.Fatalf("first Get: %q, %v", it.Value, err)
	}
	if _, err := other.Set(ctx, Item{Key: "k", Value: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	if it, err := near.Get(ctx, "k"); err != nil || string(it.Value) != "v1" || it.Stale {
		t.Fatalf("Get within the TTL: %q (stale %v), %v; want v1 from the near cache", it.Value, it.Stale, err)
	}
	if n := nearCount(near, nearHit); n != 1 {
		t.Fatalf("near hits %v, want 1", n)
	}
	if _, err := near.Set(ctx, Item{Key: "k", Value: []byte("v3")}); err != nil {
		t.Fatal(err)
	}
	if it, err := near.Get(ctx, "k"); err != nil || string(it.Value) != "v3" {
		t.Fatalf("Get after the client's own Set: %q, %v; want v3", it.Value, err)
	}
	if _, err := near.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := near.Get(ctx, "k"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get after the client's own Delete: %v, want a miss", err)
	}
}

// Past its TTL an entry is checked with its replica (an mg for the CAS
// only): served again if unchanged, read afresh if another process wrote
// it. On zonecached and on stock memcached.
func TestNearCacheRevalidatesAfterTTL(t *testing.T) {
	for _, server := range []string{"zonecached", "memcached"} {
		t.Run(server, func(t *testing.T) {
			f := startFleet(t, server, []string{"a", "b"}, 1)
			near := newTestClient(t, f.topo, "a", nearOn(20*time.Millisecond))
			other := newTestClient(t, f.topo, "a", allPolicy)
			ctx := testCtx(t)
			if _, err := other.Set(ctx, Item{Key: "k", Value: []byte("v1")}); err != nil {
				t.Fatal(err)
			}
			if it, err := near.Get(ctx, "k"); err != nil || string(it.Value) != "v1" {
				t.Fatalf("first Get: %q, %v", it.Value, err)
			}
			k, _ := near.c.mapKey("k")
			aged := func() bool {
				e, ok := near.c.near.get(k.node)
				return ok && !near.c.near.fresh(e, time.Now())
			}
			eventually(t, "the entry past its TTL", aged)
			if it, err := near.Get(ctx, "k"); err != nil || string(it.Value) != "v1" {
				t.Fatalf("Get of an unchanged entry: %q, %v", it.Value, err)
			}
			if n := nearCount(near, nearRevalidated); n != 1 {
				t.Fatalf("revalidated %v, want 1", n)
			}
			if _, err := other.Set(ctx, Item{Key: "k", Value: []byte("v2")}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the entry past its TTL", aged)
			if it, err := near.Get(ctx, "k"); err != nil || string(it.Value) != "v2" {
				t.Fatalf("Get after another process's write: %q, %v; want v2", it.Value, err)
			}
			if n := nearCount(near, nearChanged); n != 1 {
				t.Fatalf("changed %v, want 1", n)
			}
		})
	}
}

// With every node dead, Get serves the near cache's entry past its TTL,
// marked stale, and GetOrLoad does too without calling its loader beyond
// its budget.
func TestNearCacheServesStaleWhenTierDown(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		nearOn(20 * time.Millisecond)(cfg)
		cfg.LoadRate = 0.001 // one load, then none for 1000 s
	})
	ctx := testCtx(t)
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	for _, ps := range f.procs {
		for _, p := range ps {
			p.Kill()
		}
	}
	eventually(t, "every breaker open", func() bool {
		_, _ = c.Get(ctx, "other")
		for _, m := range c.c.view.Load().byID {
			if m.tn.State() != nodeclient.StateOpen {
				return false
			}
		}
		return true
	})
	k, _ := c.c.mapKey("k")
	eventually(t, "the entry past its TTL", func() bool {
		e, ok := c.c.near.get(k.node)
		return ok && !c.c.near.fresh(e, time.Now())
	})
	it, err := c.Get(ctx, "k")
	if err != nil || string(it.Value) != "v" || !it.Stale {
		t.Fatalf("Get with the tier down: %q (stale %v), %v; want v, stale", it.Value, it.Stale, err)
	}
	it, err = c.GetOrLoad(ctx, "k", time.Minute, func(context.Context) ([]byte, error) { return []byte("loaded"), nil })
	if err != nil || string(it.Value) != "v" || !it.Stale {
		t.Fatalf("GetOrLoad with the tier down: %q (stale %v), %v; want v, stale", it.Value, it.Stale, err)
	}
	// A key the near cache lacks is loaded within the budget, then
	// refused.
	load := func(context.Context) ([]byte, error) { return []byte("x"), nil }
	if _, err := c.GetOrLoad(ctx, "cold1", time.Minute, load); err != nil && !errors.Is(err, ErrOriginBusy) {
		t.Fatalf("GetOrLoad cold1: %v", err)
	}
	if _, err := c.GetOrLoad(ctx, "cold2", time.Minute, load); !errors.Is(err, ErrOriginBusy) {
		t.Fatalf("GetOrLoad cold2 over the budget: %v, want ErrOriginBusy", err)
	}
	if n := testutil.ToFloat64(c.c.metrics.staleServed.WithLabelValues("tier_down")); n < 2 {
		t.Fatalf("stale served (tier_down) %v, want at least 2", n)
	}
}
