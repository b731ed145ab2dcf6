package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// Write policies count successful serving replicas: with zone b down,
// all fails and names b's replica, all-minus-one, quorum and one succeed;
// with b and c down only one succeeds. Failed writes queue repairs.
func TestWritePolicyOutcomes(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	clients := map[replication.WritePolicy]*Client{}
	for _, p := range []replication.WritePolicy{replication.All, replication.AllMinusOne, replication.Quorum, replication.One, replication.None} {
		clients[p] = newTestClient(t, f.topo, "a", func(c *Config) { c.WritePolicy = p })
	}
	for p, c := range clients {
		if _, err := c.Set(ctx, Item{Key: "k-" + p.String(), Value: []byte("v")}); err != nil {
			t.Fatalf("%v with every zone up: %v", p, err)
		}
	}
	f.proc("b0").Kill()
	res, err := clients[replication.All].Set(ctx, Item{Key: "x", Value: []byte("v")})
	if !errors.Is(err, replication.ErrPolicyNotMet) || len(res.Failed) != 1 || res.Failed[0].Node.ID != "b0" {
		t.Fatalf("all with b down: %+v %v; want ErrPolicyNotMet naming b0", res, err)
	}
	for _, p := range []replication.WritePolicy{replication.AllMinusOne, replication.Quorum, replication.One, replication.None} {
		if _, err := clients[p].Set(ctx, Item{Key: "x", Value: []byte("v")}); err != nil {
			t.Fatalf("%v with b down: %v", p, err)
		}
	}
	eventually(t, "a repair queued for b0", func() bool { return clients[replication.All].PendingRepairs() > 0 })
	f.proc("c0").Kill()
	for _, p := range []replication.WritePolicy{replication.AllMinusOne, replication.Quorum} {
		if _, err := clients[p].Set(ctx, Item{Key: "y", Value: []byte("v")}); !errors.Is(err, replication.ErrPolicyNotMet) {
			t.Fatalf("%v with b and c down: %v, want ErrPolicyNotMet", p, err)
		}
	}
	if _, err := clients[replication.One].Set(ctx, Item{Key: "y", Value: []byte("v")}); err != nil {
		t.Fatalf("one with b and c down: %v", err)
	}
	if got := testutil.ToFloat64(clients[replication.All].c.metrics.pending); got < 1 {
		t.Fatalf("repairs_pending gauge %v", got)
	}
}

// A warming node takes the writes of the keys it will own but serves no
// reads, and its failures do not count against the write policy.
func TestWarmingNodeGetsWritesNoReads(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 2)
	ctx := testCtx(t)
	topo := f.topo
	topo.Nodes = append([]replication.Node(nil), topo.Nodes...)
	for i := range topo.Nodes {
		if topo.Nodes[i].ID == "a1" {
			topo.Nodes[i].State = replication.Warming
		}
	}
	var readsOnA1 atomic.Int32
	c := newTestClient(t, topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			if e.Node == "a1" && (e.Op == "get" || e.Op == "gat" || e.Op == "get_multi") {
				readsOnA1.Add(1)
			}
		}
	})
	a1 := direct(t, f.proc("a1").Addr)
	warmed := 0
	for i := 0; i < 100; i++ {
		key := fmt.Sprintf("w-%d", i)
		res, err := c.Set(ctx, Item{Key: key, Value: []byte(key)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, key); err != nil {
			t.Fatalf("Get %s: %v", key, err)
		}
		if _, err := a1.Get(ctx, key); err == nil {
			warmed++
			if res.Replicas != 3 {
				t.Fatalf("%s went to %d replicas; want a1, a0 (still serving its reads) and b", key, res.Replicas)
			}
		}
	}
	if warmed == 0 || warmed == 100 {
		t.Fatalf("the warming node took %d of 100 keys; want its share", warmed)
	}
	if n := readsOnA1.Load(); n != 0 {
		t.Fatalf("%d reads went to the warming node", n)
	}
	f.proc("a1").Kill()
	for i := 0; i < 50; i++ {
		if _, err := c.Set(ctx, Item{Key: fmt.Sprintf("w-%d", i), Value: []byte("v2")}); err != nil {
			t.Fatalf("Set(all) failed because the write-only replica is down: %v", err)
		}
	}
}

// A delete that cannot reach a replica is repaired when the replica comes
// back, and the stale value does not reappear.
func TestDeleteRepairAfterReplicaReturns(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 2)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "b", nil)
	const key = "doomed"
	if _, err := c.Set(ctx, Item{Key: key, Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	m := replicaOf(c, "b", key)
	p := f.proc(m.node.ID)
	if err := p.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Thaw() })
	// The local replica times out once and its breaker opens; the read
	// falls back to another zone.
	if it, err := c.Get(ctx, key); err != nil || string(it.Value) != "old" {
		t.Fatalf("Get with the local replica frozen: %q %v", it.Value, err)
	}
	// One timeout on a silent connection opens the breaker at once; if the
	// connection was not silent, short reads (caller deadlines) count
	// until the failure threshold.
	eventually(t, "breaker open", func() bool {
		if m.tn.State() == nodeclient.StateOpen {
			return true
		}
		short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _ = c.Get(short, key)
		return m.tn.State() == nodeclient.StateOpen
	})
	res, err := c.Delete(ctx, key)
	if err != nil || len(res.Failed) != 1 || res.Failed[0].Node.ID != m.node.ID {
		t.Fatalf("Delete (all-minus-one) with one replica down: %+v %v", res, err)
	}
	repaired := func() float64 { return testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("ok")) }
	if repaired() != 0 {
		t.Fatal("a repair succeeded against a frozen node")
	}
	// The frozen replica still holds the old value.
	if err := p.Thaw(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "repair done", func() bool {
		return c.PendingRepairs() == 0 && repaired() == 1
	})
	if it, err := direct(t, m.node.Addr).Get(ctx, key); !gone(it, err) {
		t.Fatalf("the replica that missed the delete: %v, want a miss", err)
	}
	if _, err := c.Get(ctx, key); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get after the repaired delete: %v", err)
	}
}

// A delete that could not reach a replica is kept while the replica is out
// of the topology (gossip declared it dead) and applied when it comes back
// with its data, so the stale value does not outlive the acknowledged
// delete.
func TestDeleteRepairKeptWhileReplicaLeftTopology(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.Node.Online.Timeout = time.Second
		c.Node.Batch.Timeout = time.Second
		c.Repair.MaxBackoff = 200 * time.Millisecond
	})
	const key = "gone-and-back"
	if _, err := c.Set(ctx, Item{Key: key, Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	b0 := f.proc("b0")
	eventually(t, "b0 has the value", func() bool {
		it, err := direct(t, b0.Addr).Get(ctx, key)
		return err == nil && string(it.Value) == "old"
	})
	if err := b0.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b0.Thaw() })
	if _, err := c.Delete(ctx, key); err != nil {
		t.Fatalf("Delete (all-minus-one) with b0 frozen: %v", err)
	}
	// A repair being tried is out of the queue (and a try on a frozen node
	// can take a dial timeout), so watch the failed tries instead.
	retried := func() float64 { return testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("retry")) }
	eventually(t, "the repair of b0 tried and failed", func() bool { return retried() >= 1 })

	// Gossip declares b0 dead: the topology loses it, the repair stays.
	without := replication.Topology{Epoch: 2}
	for _, n := range f.topo.Nodes {
		if n.ID != "b0" {
			without.Nodes = append(without.Nodes, n)
		}
	}
	if err := c.SetTopology(without); err != nil {
		t.Fatal(err)
	}
	absent := func() float64 { return testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("absent")) }
	eventually(t, "the repair found b0 absent", func() bool { return absent() >= 1 })
	eventually(t, "the repair kept while b0 is absent", func() bool { return c.PendingRepairs() == 1 })

	// b0 comes back with its data. The parked repair runs at once, not at
	// the end of RepairAbsentGrace (10 min).
	if err := b0.Thaw(); err != nil {
		t.Fatal(err)
	}
	back := f.topo
	back.Epoch = 3
	if err := c.SetTopology(back); err != nil {
		t.Fatal(err)
	}
	eventually(t, "repair done", func() bool {
		return c.PendingRepairs() == 0 && testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("ok")) == 1
	})
	if it, err := direct(t, b0.Addr).Get(ctx, key); !gone(it, err) {
		t.Fatalf("b0 after its return: %v, want the delete repaired", err)
	}
	if n := testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("dropped")); n != 0 {
		t.Fatalf("%v repairs dropped", n)
	}
}

// A repair of a node that stays out of the topology is dropped once
// RepairAbsentGrace has passed.
func TestRepairOfAbsentNodeDroppedAfterGrace(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.RepairAbsentGrace = 300 * time.Millisecond
		c.Repair.MaxBackoff = 50 * time.Millisecond
	})
	f.proc("b0").Kill()
	if _, err := c.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete (all-minus-one) with b0 dead: %v", err)
	}
	eventually(t, "the repair of b0 tried and failed", func() bool {
		return testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("retry")) >= 1
	})
	if err := c.SetTopology(replication.Topology{Epoch: 2, Nodes: f.topo.Nodes[:1]}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the repair dropped", func() bool {
		return c.PendingRepairs() == 0 && testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("dropped")) == 1
	})
	if n := testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("absent")); n < 1 {
		t.Fatalf("repairs_total{absent} = %v: the repair was not kept through the grace period", n)
	}
}
