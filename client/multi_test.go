package client

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// GetMulti sends one request per node of a zone and sends on only the
// keys still missing; values found elsewhere are read-repaired locally.
func TestGetMultiPerNodeAndPartialFallback(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 2)
	ctx := testCtx(t)
	var perZone [3]atomic.Int32
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			if e.Op == "get_multi" {
				perZone[e.Zone[0]-'a'].Add(1)
			}
		}
	})
	keys := loadKeys(t, c, "multi", 60)
	// Remove 10 keys from zone a only, behind the client's back.
	removed := map[string]bool{}
	for _, key := range keys[:10] {
		m := replicaOf(c, "a", key)
		if err := direct(t, m.node.Addr).Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		removed[key] = true
	}
	ask := append(append([]string(nil), keys...), "absent-1", "absent-2")
	got, err := c.GetMulti(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("got %d hits, want %d", len(got), len(keys))
	}
	for _, key := range keys {
		if string(got[key].Value) != key {
			t.Fatalf("%s: %q", key, got[key].Value)
		}
	}
	// Zone a: one request per node (2). Zone b: only the nodes holding the
	// 12 keys still missing (at most 2). Zone c: only the 2 absent keys.
	if n := perZone[0].Load(); n != 2 {
		t.Fatalf("zone a got %d multi-gets, want one per node (2)", n)
	}
	if n := testutil.ToFloat64(c.c.metrics.requests.WithLabelValues("get_multi", "b", resultFallbackHit)); n != 10 {
		t.Fatalf("zone b fallback hits %v, want the 10 keys missing in zone a", n)
	}
	if n := testutil.ToFloat64(c.c.metrics.requests.WithLabelValues("get_multi", "c", resultMiss)); n != 2 {
		t.Fatalf("zone c saw %v misses, want only the 2 absent keys", n)
	}
	// Read repair puts the 10 keys back in zone a.
	eventually(t, "read repair of the 10 keys", func() bool {
		for key := range removed {
			if _, err := direct(t, replicaOf(c, "a", key).node.Addr).Get(ctx, key); err != nil {
				return false
			}
		}
		return true
	})
	// A lease stub (empty value, Z) reads as a miss in a multi-get.
	if _, err := direct(t, replicaOf(c, "a", "stub").node.Addr).LeaseGet(ctx, "stub", nodeclient.LeaseOptions{VivifyTTL: 30}); err != nil {
		t.Fatal(err)
	}
	got, err = c.Batch().GetMulti(ctx, []string{"stub", keys[20]})
	if err != nil || len(got) != 1 || string(got[keys[20]].Value) != keys[20] {
		t.Fatalf("multi-get over a lease stub: %v %v", got, err)
	}
	if _, err := c.Get(ctx, "stub"); err != ErrCacheMiss {
		t.Fatalf("Get of a lease stub: %v, want a miss", err)
	}
}

// With the nodes of zones a and b frozen and zone c healthy, GetMulti is
// answered by zone c by the deadline of zone a's requests: zone c was asked
// ahead of its turn, not after two timeouts.
func TestGetMultiHedgedAnswersWithinOneTimeout(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	const timeout = 2 * time.Second
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.Node.Online.Timeout = timeout
		cfg.Node.Online.Conns = 1 // up before the outage (the Sets)
		cfg.ReadHedge = 50 * time.Millisecond
		cfg.WritePolicy = replication.All
	})
	keys := loadKeys(t, c, "hm", 20)
	for _, id := range []string{"a0", "b0"} {
		if err := f.proc(id).Freeze(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.proc(id).Thaw() })
	}
	start := time.Now()
	got, err := c.GetMulti(context.Background(), keys)
	took := time.Since(start)
	if err != nil || len(got) != len(keys) {
		t.Fatalf("GetMulti with zones a and b frozen: %d of %d keys, %v", len(got), len(keys), err)
	}
	for _, key := range keys {
		if it := got[key]; string(it.Value) != key || it.zone != "c" {
			t.Fatalf("%s: %q from zone %q, want its value from c", key, it.Value, it.zone)
		}
	}
	if took >= 2*timeout {
		t.Fatalf("GetMulti took %v, want less than two timeouts (%v)", took, 2*timeout)
	}
	if n := testutil.ToFloat64(c.c.metrics.hedgedReads); n < 1 {
		t.Fatalf("hedged reads %v, want at least 1", n)
	}
}

// GetMulti uses the near cache as Get does: fresh entries are served
// without a request and the client's own write drops its entry at once
// (TTL an hour); with a short TTL another process's write is seen once it
// has passed, and with every node down the entries are served stale.
func TestGetMultiNearCache(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	var attempts atomic.Int32
	long := newTestClient(t, f.topo, "a", func(cfg *Config) {
		nearOn(time.Hour)(cfg)
		cfg.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			if e.Op == "get_multi" {
				attempts.Add(1)
			}
		}
	})
	short := newTestClient(t, f.topo, "a", nearOn(50*time.Millisecond))
	other := newTestClient(t, f.topo, "a", allPolicy)
	ctx := testCtx(t)
	keys := loadKeys(t, other, "nm", 10)
	getAll := func(c *Client, want string) {
		t.Helper()
		got, err := c.GetMulti(ctx, keys)
		if err != nil || len(got) != len(keys) || string(got[keys[0]].Value) != want {
			t.Fatalf("GetMulti: %d of %d keys, %s = %q, %v; want %q", len(got), len(keys), keys[0], got[keys[0]].Value, err, want)
		}
	}
	getAll(long, keys[0])
	getAll(short, keys[0])
	before, hits := attempts.Load(), nearCount(long, nearHit)
	if _, err := other.Set(ctx, Item{Key: keys[0], Value: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	getAll(long, keys[0]) // within the TTL: the near cache alone
	if n := attempts.Load(); n != before {
		t.Fatalf("GetMulti within the TTL sent %d multi-gets, want none", n-before)
	}
	if n := nearCount(long, nearHit); n != hits+float64(len(keys)) {
		t.Fatalf("near hits %v, want %v", n, hits+float64(len(keys)))
	}
	// In a request scope a value served from the near cache is the one
	// the scope's later reads see, even once the entry is gone.
	scope := WithRequestScope(ctx)
	if got, err := long.GetMulti(scope, keys[:1]); err != nil || string(got[keys[0]].Value) != keys[0] {
		t.Fatalf("GetMulti in a scope: %q, %v", got[keys[0]].Value, err)
	}
	k0, _ := long.c.mapKey(keys[0])
	long.c.near.invalidate(k0.node)
	if it, err := long.Get(scope, keys[0]); err != nil || string(it.Value) != keys[0] {
		t.Fatalf("Get in the scope after GetMulti: %q, %v; want the value GetMulti returned", it.Value, err)
	}
	if _, err := long.Set(ctx, Item{Key: keys[0], Value: []byte("v3")}); err != nil {
		t.Fatal(err)
	}
	getAll(long, "v3")
	eventually(t, "another process's write seen after the TTL", func() bool {
		got, err := short.GetMulti(ctx, keys)
		return err == nil && string(got[keys[0]].Value) == "v3"
	})
	for _, ps := range f.procs {
		for _, p := range ps {
			p.Kill()
		}
	}
	eventually(t, "every key served stale with the tier down", func() bool {
		got, err := short.GetMulti(ctx, keys)
		if err != nil || len(got) != len(keys) {
			return false
		}
		for _, it := range got {
			if !it.Stale {
				return false
			}
		}
		return string(got[keys[0]].Value) == "v3"
	})
	if n := testutil.ToFloat64(short.c.metrics.staleServed.WithLabelValues("tier_down")); n < float64(len(keys)) {
		t.Fatalf("stale served (tier_down) %v, want at least %d", n, len(keys))
	}
}
