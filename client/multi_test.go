package client

import (
	"context"
	"sync/atomic"
	"testing"

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
