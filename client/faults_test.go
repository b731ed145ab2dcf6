package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/replication"
)

// Fault injection makes a zone fail or slow down for a share of requests;
// the fallback hides it from callers.
func TestFaultInjection(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	var injected, slow atomic.Int32
	hooks := Hooks{OnAttempt: func(_ context.Context, e AttemptEvent) {
		if errors.Is(e.Err, ErrInjected) {
			injected.Add(1)
		}
	}}
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.Hooks = hooks
		c.Faults = FaultConfig{Seed: 42, Rules: []FaultRule{{Zone: "a", Ops: []string{"get"}, Share: 0.5}}}
	})
	keys := loadKeys(t, c, "fit", 100)
	for _, key := range keys {
		if it, err := c.Get(ctx, key); err != nil || string(it.Value) != key {
			t.Fatalf("Get %s under injected faults: %q %v", key, it.Value, err)
		}
	}
	n := injected.Load()
	if n == 0 || n == 100 {
		t.Fatalf("%d of 100 local reads failed by injection; want about half", n)
	}
	if got := testutil.ToFloat64(c.c.metrics.requests.WithLabelValues("get", "b", resultFallbackHit)); got != float64(n) {
		t.Fatalf("zone b served %v fallback hits, want %d", got, n)
	}

	// A delay rule slows every local read by at least its delay.
	d := newTestClient(t, f.topo, "a", func(c *Config) {
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			if e.Node == "a0" && e.Op == "get" && e.Err == nil && e.Duration >= 20*time.Millisecond {
				slow.Add(1)
			}
		}
		c.Faults = FaultConfig{Rules: []FaultRule{{Node: "a0", Share: 1, Delay: 20 * time.Millisecond}}}
	})
	for _, key := range keys[:5] {
		if _, err := d.Get(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if slow.Load() != 5 {
		t.Fatalf("%d of 5 delayed reads took the delay", slow.Load())
	}
}

// An injected delay longer than the pool's timeout ends as the transport's
// timeout would, after the timeout: the read falls back to the next zone.
// SetFaults turns injection off and on at run time.
func TestFaultDelayBeyondTimeoutFallsBack(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	const timeout = 2 * time.Second
	var timeouts atomic.Int32
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.Node.Online.Timeout = timeout
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			if e.Node == "a0" && errors.Is(e.Err, ErrTimeout) && errors.Is(e.Err, ErrInjected) && e.Duration >= timeout {
				timeouts.Add(1)
			}
		}
	})
	keys := loadKeys(t, c, "slow", 2)
	c.SetFaults(FaultConfig{Rules: []FaultRule{{Zone: "a", Ops: []string{"get"}, Share: 1, Delay: time.Hour}}})
	for _, key := range keys {
		if it, err := c.Get(ctx, key); err != nil || string(it.Value) != key {
			t.Fatalf("Get %s with zone a an hour slow: %q %v", key, it.Value, err)
		}
	}
	if n := timeouts.Load(); n != 2 {
		t.Fatalf("%d of 2 local reads timed out after %v", n, timeout)
	}
	fallback := c.c.metrics.requests.WithLabelValues("get", "b", resultFallbackHit)
	if got := testutil.ToFloat64(fallback); got != 2 {
		t.Fatalf("zone b served %v fallback hits, want 2", got)
	}
	c.SetFaults(FaultConfig{})
	if _, err := c.Get(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	if n, got := timeouts.Load(), testutil.ToFloat64(fallback); n != 2 || got != 2 {
		t.Fatalf("after SetFaults without rules: %d timeouts, %v fallback hits; want the local zone to answer", n, got)
	}
}
