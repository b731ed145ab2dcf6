package client

import (
	"fmt"
	"slices"
	"testing"

	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// TestPlacementMatchesView pins replication.Placement to the client's own
// rings: for topologies with every node state, weights and both hash
// modes, the read replica and the write targets of each key are the same
// nodes, and a node holds a key exactly when it is one of its targets. The
// servers' ownership purge and the warmer rely on this agreement.
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
