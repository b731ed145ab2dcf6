package reshard

import (
	"errors"
	"fmt"
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
