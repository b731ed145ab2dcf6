package client

import (
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// TestPlacementMatchesView pins the client's view to replication.Placement:
// for topologies with every node state, weights and both hash modes, the
// read replica and the write targets of each key are the same nodes, and a
// node holds a key exactly when it is one of its targets. The servers'
// ownership purge and the warmer rely on this agreement.
func TestPlacementMatchesView(t *testing.T) {
	topos := []replication.Topology{
		placementTopo(nil),
		placementTopo(map[string]replication.NodeState{"a2": replication.Warming}),
		placementTopo(map[string]replication.NodeState{"a2": replication.Draining, "b0": replication.Joining}),
		placementTopo(map[string]replication.NodeState{"a0": replication.Warming, "a1": replication.Draining, "c2": replication.Warming}),
	}
	topos[0].Nodes[1].Weight = 3
	for _, cfg := range []sharding.Config{{}, {Mode: sharding.HashKetama}} {
		for ti, topo := range topos {
			if cfg.Mode == sharding.HashKetama {
				topo.Nodes = slices.Clone(topo.Nodes)
				topo.Nodes[1].Weight = 0
			}
			t.Run(fmt.Sprintf("%s/%d", cfg.Mode, ti), func(t *testing.T) {
				checkPlacement(t, topo, cfg)
			})
		}
	}
}

func checkPlacement(t *testing.T, topo replication.Topology, cfg sharding.Config) {
	c := newTestClient(t, topo, "a", func(c *Config) { c.Sharding = cfg })
	v := c.c.view.Load()
	p, err := replication.NewPlacement(topo, cfg)
	if err != nil {
		t.Fatalf("NewPlacement: %v", err)
	}
	for i := range 3000 {
		key := fmt.Sprintf("key-%d", i)
		for _, zn := range topo.Zones() {
			z := p.Zone(zn)
			want := v.readReplica(zn, key)
			got, ok := z.ReadOwner(key)
			if (want == nil) != !ok || (ok && got.ID != want.node.ID) {
				t.Fatalf("zone %s key %s: read owner %v %v, view %v", zn, key, got.ID, ok, want)
			}
			var wantIDs []string
			for _, m := range v.zoneTargets(nil, zn, key) {
				wantIDs = append(wantIDs, m.node.ID)
			}
			var gotIDs []string
			for _, n := range z.Targets(key) {
				gotIDs = append(gotIDs, n.ID)
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Fatalf("zone %s key %s: targets %v, view %v", zn, key, gotIDs, wantIDs)
			}
			for _, n := range topo.ZoneNodes(zn, nil) {
				if z.IsReadOwner(n.ID, []byte(key)) != (want != nil && want.node.ID == n.ID) {
					t.Fatalf("zone %s key %s: IsReadOwner(%s) disagrees with the view's %v", zn, key, n.ID, want)
				}
				if z.HoldsString(n.ID, key) != slices.Contains(wantIDs, n.ID) {
					t.Fatalf("zone %s key %s: Holds(%s) = %v, targets %v", zn, key, n.ID, !slices.Contains(wantIDs, n.ID), wantIDs)
				}
			}
		}
	}
}

// placementTopo is three zones of three nodes, with the given states.
func placementTopo(states map[string]replication.NodeState) replication.Topology {
	t := replication.Topology{Epoch: 1}
	port := 20000
	for _, z := range []string{"a", "b", "c"} {
		for i := range 3 {
			id := fmt.Sprintf("%s%d", z, i)
			port++
			t.Nodes = append(t.Nodes, replication.Node{ID: id, Zone: z, Addr: fmt.Sprintf("127.0.0.1:%d", port), State: states[id]})
		}
	}
	return t
}

// TestPlacementAgreesInEveryHashMode extends TestPlacementMatchesView to
// every hash mode, EVCache ketama included, with weights in several zones
// where the mode has weights.
func TestPlacementAgreesInEveryHashMode(t *testing.T) {
	for _, mode := range []sharding.HashMode{sharding.HashXX, sharding.HashKetama, sharding.HashKetamaEVCache} {
		for ti, states := range []map[string]replication.NodeState{
			nil,
			{"a1": replication.Warming, "b2": replication.Draining, "c0": replication.Joining},
		} {
			topo := placementTopo(states)
			if mode == sharding.HashKetamaEVCache {
				hostPerNode(topo) // EVCache names a node's points by its IP
			} else {
				weighNodes(topo)
			}
			t.Run(fmt.Sprintf("%s/%d", mode, ti), func(t *testing.T) {
				checkPlacement(t, topo, sharding.Config{Mode: mode})
			})
		}
	}
}

// TestClientWritesWherePlacementSays checks the placement the client
// acts on, not its tables: in every hash mode, with weights where the mode
// has them, a Set lands on exactly the nodes replication.Placement names
// in each zone (real servers, looked at behind the client's back).
func TestClientWritesWherePlacementSays(t *testing.T) {
	// One host per node: EVCache names a node's points by its IP.
	base := placementTopo(nil)
	hostPerNode(base)
	pools := map[string]*nodeclient.Pool{}
	for i, n := range base.Nodes {
		host, _, _ := net.SplitHostPort(n.Addr)
		base.Nodes[i].Addr = testproc.StartZonecachedOn(t, host, "-m", "16").Addr
		pools[n.ID] = direct(t, base.Nodes[i].Addr)
	}
	ctx := testCtx(t)
	for _, mode := range []sharding.HashMode{sharding.HashXX, sharding.HashKetama, sharding.HashKetamaEVCache} {
		topo := base
		topo.Nodes = slices.Clone(topo.Nodes)
		if mode != sharding.HashKetamaEVCache {
			weighNodes(topo)
		}
		cfg := sharding.Config{Mode: mode}
		c := newTestClient(t, topo, "a", func(c *Config) { c.Sharding = cfg; c.WritePolicy = replication.All })
		p, err := replication.NewPlacement(topo, cfg)
		if err != nil {
			t.Fatalf("%s: NewPlacement: %v", mode, err)
		}
		for i := range 150 {
			key := fmt.Sprintf("agree-%s-%d", mode, i)
			if _, err := c.Set(ctx, Item{Key: key, Value: []byte("v")}); err != nil {
				t.Fatalf("%s: Set %s: %v", mode, key, err)
			}
			for _, zn := range topo.Zones() {
				owner, _ := p.Zone(zn).ReadOwner(key)
				for _, n := range topo.ZoneNodes(zn, nil) {
					_, err := pools[n.ID].Get(ctx, key)
					if held := err == nil; held != (n.ID == owner.ID) {
						t.Fatalf("%s: key %s on %s: %v, placement owner %s", mode, key, n.ID, err, owner.ID)
					}
				}
			}
		}
	}
}

// hostPerNode gives every node of a placementTopo its own loopback host.
func hostPerNode(topo replication.Topology) {
	for i, n := range topo.Nodes {
		_, port, _ := net.SplitHostPort(n.Addr)
		topo.Nodes[i].Addr = net.JoinHostPort(fmt.Sprintf("127.0.%d.%d", 10+i/3, 1+i%3), port)
	}
}

// weighNodes gives nodes of every zone of a placementTopo-shaped topology
// different weights.
func weighNodes(topo replication.Topology) {
	for i := range topo.Nodes {
		topo.Nodes[i].Weight = []int{1, 3, 2}[i%3]
	}
}

// BenchmarkViewPlacement times the client's per-request placement steps,
// a read replica lookup and a write's targets, on three zones of three
// nodes: the part of a Get or Set that placement costs.
func BenchmarkViewPlacement(b *testing.B) {
	c := newTestClient(b, placementTopo(nil), "a", nil)
	v := c.c.view.Load()
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d:profile", i*7919)
	}
	b.Run("readReplica", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if v.readReplica("b", keys[i&4095]) == nil {
				b.Fatal("no replica")
			}
			i++
		}
	})
	b.Run("writeTargets", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if len(v.writeTargets(keys[i&4095])) != 3 {
				b.Fatal("not three targets")
			}
			i++
		}
	})
}
