package client

import (
	"context"
	"sync"
	"testing"
)

// The attempt hook names the key of a request that changes it (a write,
// delete or read repair), and no key for a read.
func TestAttemptHookNamesTheKeyOfWrites(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	var mu sync.Mutex
	keys := map[string]string{}
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			mu.Lock()
			defer mu.Unlock()
			keys[e.Op+"@"+e.Zone] = e.Key
		}
	})
	if _, err := c.Set(ctx, Item{Key: "hk", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	// The Set returned once one of the two replicas had it (all-minus-one):
	// wait for zone b's, so the read below can fall back to it.
	b := direct(t, replicaOf(c, "b", "hk").node.Addr)
	eventually(t, "zone b holds hk", func() bool {
		_, err := b.Get(ctx, "hk")
		return err == nil
	})
	// Gone from zone a only: the read misses there, falls back to b and
	// repairs a.
	if err := direct(t, replicaOf(c, "a", "hk").node.Addr).Delete(ctx, "hk"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "hk"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the read repair's attempt", func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := keys["read_repair@a"]
		return ok
	})
	mu.Lock()
	defer mu.Unlock()
	for _, op := range []string{"set@a", "set@b", "read_repair@a"} {
		if keys[op] != "hk" {
			t.Errorf("%s attempt: key %q, want hk (all: %v)", op, keys[op], keys)
		}
	}
	if k, ok := keys["get@a"]; !ok || k != "" {
		t.Errorf("get@a attempt: key %q (seen %v), want an empty key", k, ok)
	}
}
