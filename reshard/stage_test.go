package reshard

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// TestIntermediateSendsWritesToTheNewOwners checks the topology clients use
// during the copy: reads still go to the current owner, writes reach the
// target owner.
func TestIntermediateSendsWritesToTheNewOwners(t *testing.T) {
	cur := topo(4, "a-1", "a-2", "b-1")
	weighted := topo(6, "a-1", "a-2", "b-1")
	weighted.Nodes[0].Weight = 3
	for _, tgt := range []replication.Topology{
		weighted,                     // a-1's weight 1 -> 3 (its NextWeight)
		topo(6, "a-1", "a-3", "b-1"), // replace a-2 by a-3
		topo(6, "a-1", "a-2", "a-3", "a-4", "b-1"), // grow
		topo(6, "a-1", "b-1"),                      // shrink
		topo(6, "a-1", "a-2", "b-1", "c-1"),        // add zone c
		topo(6, "a-1", "a-2"),                      // remove zone b
	} {
		if err := Ready(cur, tgt); !errors.Is(err, ErrNotReady) && len(tgt.Zones()) >= len(cur.Zones()) {
			t.Fatalf("%v -> %v: ready before the intermediate topology: %v", cur.Nodes, tgt.Nodes, err)
		}
		mid := Intermediate(cur, tgt)
		if err := Ready(mid, tgt); err != nil || mid.Epoch != 5 || mid.Validate() != nil {
			t.Fatalf("intermediate %+v: %v", mid, err)
		}
		cp, _ := replication.NewPlacement(cur, sharding.Config{})
		mp, _ := replication.NewPlacement(mid, sharding.Config{})
		tp, _ := replication.NewPlacement(tgt, sharding.Config{})
		for i := range 1000 {
			k := fmt.Sprint("k", i)
			for _, z := range tgt.Zones() {
				r0, _ := cp.Zone(z).ReadOwner(k)
				r1, _ := mp.Zone(z).ReadOwner(k)
				w1, _ := mp.Zone(z).WriteOwner(k)
				w2, _ := tp.Zone(z).ReadOwner(k)
				if r0.ID != r1.ID || w1.ID != w2.ID {
					t.Fatalf("%s in zone %s: reads %s then %s, writes %s, owner after %s", k, z, r0.ID, r1.ID, w1.ID, w2.ID)
				}
			}
		}
	}
}

// TestIntermediateTakesAZoneItRemovesOutOfReads: the nodes of a zone the
// target removes are warming in the intermediate topology, so that no
// client reads them while they leave one by one (the one left would serve
// every key of the zone, those whose writes went to the other), and each
// key's writes still reach the node that owned it.
func TestIntermediateTakesAZoneItRemovesOutOfReads(t *testing.T) {
	cur := topo(4, "a-1", "b-1", "b-2")
	mid := Intermediate(cur, topo(6, "a-1"))
	if err := mid.Validate(); err != nil {
		t.Fatal(err)
	}
	cp, _ := replication.NewPlacement(cur, sharding.Config{})
	mp, _ := replication.NewPlacement(mid, sharding.Config{})
	if nodes := mp.Zone("b").ReadNodes; len(nodes) != 0 {
		t.Fatalf("zone b still serves reads from %v", nodes)
	}
	for i := range 1000 {
		k := fmt.Sprint("k", i)
		was, _ := cp.Zone("b").ReadOwner(k)
		if w, ok := mp.Zone("b").WriteOwner(k); !ok || w.ID != was.ID {
			t.Fatalf("%s: owned by %s in zone b, written to %s (%v)", k, was.ID, w.ID, ok)
		}
	}
}

// TestSwitchReadsTheNewOwnersAndWritesBoth checks the topology clients use
// between the copy and the cutover: in every zone both topologies read,
// each key is read from its owner in the target and written to it and to
// its current owner; a zone the target adds serves.
func TestSwitchReadsTheNewOwnersAndWritesBoth(t *testing.T) {
	cur := topo(4, "a-1", "a-2", "b-1")
	weighted := topo(7, "a-1", "a-2", "b-1")
	weighted.Nodes[0].Weight = 3
	for _, tgt := range []replication.Topology{
		weighted,                     // a-1's weight 1 -> 3
		topo(7, "a-1", "a-3", "b-1"), // replace a-2 by a-3
		topo(7, "a-1", "a-2", "a-3", "a-4", "b-1"), // grow
		topo(7, "a-1", "b-1"),                      // shrink
		topo(7, "a-1", "a-2", "b-1", "c-1"),        // add zone c
	} {
		sw := Switch(cur, tgt)
		if err := sw.Validate(); err != nil || sw.Epoch != 6 {
			t.Fatalf("switch %+v: %v", sw, err)
		}
		if n, ok := sw.Node("c-1"); ok && n.EffectiveState() != replication.Serving {
			t.Fatalf("c-1 of the added zone is %s in the switch", n.EffectiveState())
		}
		cp, _ := replication.NewPlacement(cur, sharding.Config{})
		sp, _ := replication.NewPlacement(sw, sharding.Config{})
		tp, _ := replication.NewPlacement(tgt, sharding.Config{})
		for i := range 1000 {
			k := fmt.Sprint("k", i)
			for _, z := range cur.Zones() {
				was, _ := cp.Zone(z).ReadOwner(k)
				owner, _ := tp.Zone(z).ReadOwner(k)
				read, _ := sp.Zone(z).ReadOwner(k)
				written := sp.Zone(z).Targets(k)
				has := func(id string) bool {
					return slices.ContainsFunc(written, func(n replication.Node) bool { return n.ID == id })
				}
				if read.ID != owner.ID || !has(was.ID) || !has(owner.ID) {
					t.Fatalf("%v: %s in zone %s: owned by %s then %s; the switch reads %s, writes %v", tgt.Nodes, k, z, was.ID, owner.ID, read.ID, written)
				}
			}
		}
	}
}

// TestSwitchKeepsAZoneItRemovesOutOfReads: as in the intermediate
// topology, the nodes of a removed zone take writes and serve no reads.
func TestSwitchKeepsAZoneItRemovesOutOfReads(t *testing.T) {
	cur := topo(4, "a-1", "b-1", "b-2")
	tgt := topo(7, "a-1")
	if sw := Switch(cur, tgt); !SameNodes(sw, Intermediate(cur, tgt)) {
		t.Fatalf("switch %+v, want the intermediate topology", sw)
	}
}
