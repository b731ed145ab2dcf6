package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/nodeclient"
)

// freezeAll stops every node of f and thaws them at cleanup.
func freezeAll(t *testing.T, f *fleet) {
	t.Helper()
	for _, ps := range f.procs {
		for _, p := range ps {
			if err := p.Freeze(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Thaw() })
		}
	}
}

// With every node frozen, the first Get of the outage costs one pool
// timeout, not one per zone: after ReadHedge the other zones are asked at
// once, by the first request's deadline. Once every replica's breaker is
// open, a Get fails at once with ErrCircuitOpen and no request is sent.
func TestTierDownFirstReadCostsOneTimeout(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	const timeout = 2 * time.Second
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.Node.Online.Timeout = timeout
		cfg.ReadHedge = 50 * time.Millisecond
		cfg.Node.Breaker.ProbeMax = time.Minute // no probe closes a breaker during the test
		cfg.Node.Breaker.ProbeInitial = time.Minute
	})
	if _, err := c.Set(testCtx(t), Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	freezeAll(t, f)
	start := time.Now()
	_, err := c.Get(context.Background(), "k")
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with every node frozen: %v, want ErrUnavailable", err)
	}
	// Zone after zone would take 3 timeouts; hedged, one (the margin
	// absorbs a loaded machine).
	if took >= 2*timeout {
		t.Fatalf("first Get took %v, want less than two timeouts (%v)", took, 2*timeout)
	}
	if n := testutil.ToFloat64(c.c.metrics.hedgedReads); n != 1 {
		t.Fatalf("hedged reads %v, want 1", n)
	}
	// The frozen connections are found stalled: every breaker opens.
	eventually(t, "every breaker open", func() bool {
		_, _ = c.Get(context.Background(), "k")
		for _, m := range c.c.view.Load().byID {
			if m.tn.State() != nodeclient.StateOpen {
				return false
			}
		}
		return true
	})
	before := testutil.ToFloat64(c.c.metrics.tierDownReads)
	_, err = c.Get(context.Background(), "k")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Get with every breaker open: %v, want ErrUnavailable and ErrCircuitOpen", err)
	}
	if n := testutil.ToFloat64(c.c.metrics.tierDownReads); n != before+1 {
		t.Fatalf("tier-down reads %v, want %v", n, before+1)
	}
}

// With the nodes of zones a and b frozen and zone c healthy, a Get is
// answered by zone c by the deadline of zone a's request: zone c was asked
// ahead of its turn, not after two timeouts.
func TestHedgedReadAnswersWithinOneTimeout(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	const timeout = 2 * time.Second
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.Node.Online.Timeout = timeout
		cfg.ReadHedge = 50 * time.Millisecond
	})
	if _, err := c.Set(testCtx(t), Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a0", "b0"} {
		if err := f.proc(id).Freeze(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.proc(id).Thaw() })
	}
	start := time.Now()
	it, err := c.Get(context.Background(), "k")
	if err != nil || string(it.Value) != "v" || it.zone != "c" {
		t.Fatalf("Get = %q from zone %q, %v; want v from c", it.Value, it.zone, err)
	}
	if took := time.Since(start); took >= 2*timeout {
		t.Fatalf("Get took %v, want less than two timeouts (%v)", took, 2*timeout)
	}
	// The frozen local node was still waited for: its breaker opened.
	if s := replicaOf(c, "a", "k").tn.State(); s != nodeclient.StateOpen {
		t.Fatalf("breaker of the frozen local node %v, want open", s)
	}
}

// With every node frozen, GetOrLoad's first call costs one pool timeout,
// on zonecached and on stock memcached, with the lease zone the client's
// own or another: its lookup, slow to answer, has every zone read at once
// (so every frozen node has its breaker open by the lookup's timeout), the
// loader runs once and the store of its value fails fast. Every breaker
// opens without another call.
func TestTierDownFirstGetOrLoadCostsOneTimeout(t *testing.T) {
	for _, tc := range []struct{ server, leaseZone string }{
		{"zonecached", "a"}, {"zonecached", "b"}, {"memcached", "a"}, {"memcached", "b"},
	} {
		t.Run(tc.server+"/lease-zone-"+tc.leaseZone, func(t *testing.T) {
			testTierDownFirstGetOrLoad(t, tc.server, tc.leaseZone)
		})
	}
}

func testTierDownFirstGetOrLoad(t *testing.T, server, leaseZone string) {
	f := startFleet(t, server, []string{"a", "b", "c"}, 1)
	const timeout, hedge = 2 * time.Second, 200 * time.Millisecond
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.Node.Online.Timeout = timeout
		cfg.ReadHedge = hedge
		cfg.LeaseZone = leaseZone
		cfg.Node.Online.Conns = 1 // up before the outage (below)
		cfg.Node.Breaker.ProbeMax = time.Minute
		cfg.Node.Breaker.ProbeInitial = time.Minute
	})
	warmUp(t, c)
	freezeAll(t, f)
	// Step after step (local read, lease lookup, fallback read) would
	// take two or three timeouts; hedged, one plus ReadHedge.
	firstLoadWithinOneTimeout(t, c, timeout)
	// Every frozen node was asked (a request not given its full time on a
	// loaded machine is judged a little later, by its connection's watch).
	eventually(t, "every breaker open", func() bool {
		for _, m := range c.c.view.Load().byID {
			if m.tn.State() != nodeclient.StateOpen {
				return false
			}
		}
		return true
	})
}

// With the lease zone healthy and the other zones frozen, the GetOrLoad
// that wins the lease looks for a copy in the other zones at once, not
// zone after zone: its first call costs one timeout, and it loads once.
func TestWinnerLooksInOtherZonesAtOnce(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	const timeout = 2 * time.Second
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.Node.Online.Timeout = timeout
		cfg.Node.Online.Conns = 1 // up before the outage (below)
		cfg.ReadHedge = 50 * time.Millisecond
	})
	warmUp(t, c)
	for _, id := range []string{"b0", "c0"} {
		if err := f.proc(id).Freeze(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.proc(id).Thaw() })
	}
	firstLoadWithinOneTimeout(t, c, timeout)
	if n := testutil.ToFloat64(c.c.metrics.leases.WithLabelValues("won")); n != 1 {
		t.Fatalf(`leases_total{result="won"} = %v, want 1`, n)
	}
	if got, err := direct(t, f.proc("a0").Addr).Get(testCtx(t), "k"); err != nil || string(got.Value) != "origin" {
		t.Fatalf("the lease zone's copy: %q, %v; want the loaded value", got.Value, err)
	}
}

// warmUp opens c's connections (one per node in these tests) before an
// outage, as a running service has them.
func warmUp(t *testing.T, c *Client) {
	t.Helper()
	if _, err := c.Set(testCtx(t), Item{Key: "warm", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
}

// firstLoadWithinOneTimeout runs a GetOrLoad of a missing key and checks
// that it loaded once, returned the value and took less than two timeouts
// (one, plus a margin for a loaded machine).
func firstLoadWithinOneTimeout(t *testing.T, c *Client, timeout time.Duration) {
	t.Helper()
	loads := 0
	start := time.Now()
	it, err := c.GetOrLoad(context.Background(), "k", time.Minute, func(context.Context) ([]byte, error) {
		loads++
		return []byte("origin"), nil
	})
	took := time.Since(start)
	t.Logf("first GetOrLoad: %v", took)
	if err != nil || string(it.Value) != "origin" || loads != 1 {
		t.Fatalf("GetOrLoad: %q, %v after %d loads; want origin after 1", it.Value, err, loads)
	}
	if took >= 2*timeout {
		t.Fatalf("first GetOrLoad took %v, want less than two timeouts (%v)", took, 2*timeout)
	}
}
