package client

import (
	"context"
	"errors"
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

// OnStart's context is the call's: the call's attempts and its OnRequest
// receive it, so a tracer can nest attempt spans under the call's span;
// each call that started ends once.
func TestStartHookContextReachesAttemptsAndRequest(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	type callKey struct{}
	var mu sync.Mutex
	var started, ended int
	attempts := map[int][]string{} // call number -> attempts' op@zone
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.Hooks.OnStart = func(ctx context.Context, op, key string) context.Context {
			mu.Lock()
			defer mu.Unlock()
			started++
			return context.WithValue(ctx, callKey{}, started)
		}
		c.Hooks.OnAttempt = func(ctx context.Context, e AttemptEvent) {
			if n, ok := ctx.Value(callKey{}).(int); ok {
				mu.Lock()
				defer mu.Unlock()
				attempts[n] = append(attempts[n], e.Op+"@"+e.Zone)
			}
		}
		c.Hooks.OnRequest = func(ctx context.Context, e RequestEvent) {
			if _, ok := ctx.Value(callKey{}).(int); !ok {
				t.Errorf("%s: OnRequest without OnStart's context", e.Op)
			}
			mu.Lock()
			defer mu.Unlock()
			ended++
		}
	})
	if _, err := c.Set(ctx, Item{Key: "sk", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "sk"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "absent"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get absent: %v, want a miss", err)
	}
	eventually(t, "the Set's attempts on both zones", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts[1]) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if started != 3 || ended != 3 {
		t.Errorf("%d calls started, %d ended; want 3 and 3", started, ended)
	}
	if got := attempts[2]; len(got) != 1 || got[0] != "get@a" {
		t.Errorf("the Get's attempts: %v, want [get@a]", got)
	}
	if got := attempts[3]; len(got) != 2 {
		t.Errorf("the missing Get's attempts: %v, want one per zone", got)
	}
}
