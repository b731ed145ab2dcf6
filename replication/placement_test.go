package replication

import (
	"errors"
	"fmt"
	"testing"

	"github.com/zonecache/zonecache/sharding"
)

// TestPlacementWarmingNodeTakesOverWrites checks the move a join makes: a
// warming node owns its keys in the write ring while the serving node keeps
// serving their reads, so both hold them; once it serves, only it does.
func TestPlacementWarmingNodeTakesOverWrites(t *testing.T) {
	topo := Topology{Nodes: []Node{
		{ID: "a1", Zone: "a", Addr: "127.0.0.1:1"},
		{ID: "a2", Zone: "a", Addr: "127.0.0.1:2", State: Warming},
		{ID: "b1", Zone: "b", Addr: "127.0.0.1:3", State: Joining},
	}}
	p, err := NewPlacement(topo, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i := range 1000 {
		key := fmt.Sprint("k", i)
		z := p.Zone("a")
		if r, ok := z.ReadOwner(key); !ok || r.ID != "a1" {
			t.Fatalf("%s: read owner %v %v, want a1", key, r.ID, ok)
		}
		if !z.HoldsString("a1", key) {
			t.Fatalf("%s: a1 serves its reads but does not hold it", key)
		}
		if w, _ := z.WriteOwner(key); w.ID == "a2" {
			moved++
			if !z.HoldsString("a2", key) || len(z.Targets(key)) != 2 {
				t.Fatalf("%s: write owner a2 does not hold it, or targets %v", key, z.Targets(key))
			}
		} else if z.HoldsString("a2", key) {
			t.Fatalf("%s: a2 holds a key it does not own", key)
		}
	}
	if moved < 300 || moved > 700 {
		t.Fatalf("%d of 1000 keys in a2's write ring, want about half", moved)
	}
	if z := p.Zone("b"); z.InRing("b1") || z.HoldsString("b1", "k1") || z.ReadIndex("k1") != -1 {
		t.Fatal("a joining node is in a ring")
	}
	if z := p.Zone("nowhere"); z != nil || z.HoldsString("a1", "k1") || z.InRing("a1") {
		t.Fatal("an unknown zone holds keys")
	}
	if !p.Zone("a").InRing("a2") {
		t.Fatal("warming a2 is in no ring")
	}
}

func TestPlacementRejectsUnbuildableRing(t *testing.T) {
	topo := Topology{Nodes: []Node{{ID: "a1", Zone: "a", Addr: "127.0.0.1:1", Weight: 2}}}
	_, err := NewPlacement(topo, sharding.Config{Mode: sharding.HashKetamaEVCache})
	if !errors.Is(err, sharding.ErrInvalidNode) {
		t.Fatalf("EVCache ring with weight 2: %v, want ErrInvalidNode", err)
	}
}

func TestPlacementDeparted(t *testing.T) {
	before := Topology{Nodes: []Node{{ID: "a1", Zone: "a", Addr: "127.0.0.1:1"}}}
	after := Topology{Nodes: append(before.Nodes, Node{ID: "a2", Zone: "a", Addr: "127.0.0.1:2"})}
	pb, _ := NewPlacement(before, sharding.Config{})
	pa, _ := NewPlacement(after, sharding.Config{})
	moved := 0
	for i := range 500 {
		key := fmt.Sprint("k", i)
		d := pa.Zone("a").Departed(pb.Zone("a"), key)
		owner, _ := pa.Zone("a").ReadOwner(key)
		switch {
		case owner.ID == "a2" && (len(d) != 1 || d[0].ID != "a1"):
			t.Fatalf("%s moved to a2: departed %v, want a1", key, d)
		case owner.ID == "a1" && len(d) != 0:
			t.Fatalf("%s stayed on a1: departed %v", key, d)
		}
		if len(d) == 1 {
			moved++
		}
		if back := pb.Zone("a").Departed(pa.Zone("a"), key); owner.ID == "a2" && (len(back) != 1 || back[0].ID != "a2") {
			t.Fatalf("%s moving back from a2: departed %v", key, back)
		}
	}
	if moved == 0 || pa.Zone("a").Departed(nil, "k1") != nil {
		t.Fatal("no key moved, or a nil previous zone has holders")
	}
}

// TestPlacementNextWeightPlacesWrites checks a weight change in progress:
// the write ring places keys with NextWeight, the read ring with Weight,
// and a write goes to both owners when they differ.
func TestPlacementNextWeightPlacesWrites(t *testing.T) {
	nodes := []Node{{ID: "a1", Zone: "a", Addr: "127.0.0.1:1"}, {ID: "a2", Zone: "a", Addr: "127.0.0.1:2"}}
	before, err := NewPlacement(Topology{Nodes: nodes}, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	nodes[1].Weight = 3
	after, err := NewPlacement(Topology{Nodes: nodes}, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	nodes[1].Weight, nodes[1].NextWeight = 0, 3
	mid, err := NewPlacement(Topology{Nodes: nodes}, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	moving := 0
	for i := range 1000 {
		key := fmt.Sprint("k", i)
		r, _ := mid.Zone("a").ReadOwner(key)
		w, _ := mid.Zone("a").WriteOwner(key)
		old, _ := before.Zone("a").ReadOwner(key)
		next, _ := after.Zone("a").ReadOwner(key)
		if r.ID != old.ID || w.ID != next.ID {
			t.Fatalf("%s: read owner %s (was %s), write owner %s (will be %s)", key, r.ID, old.ID, w.ID, next.ID)
		}
		if r.ID != w.ID {
			moving++
			if len(mid.Zone("a").Targets(key)) != 2 {
				t.Fatalf("%s: a write goes to %v, want both owners", key, mid.Zone("a").Targets(key))
			}
		}
	}
	if moving < 100 {
		t.Fatalf("%d of 1000 keys change owner with a2's weight 1 -> 3, want about a quarter", moving)
	}
	if err := (Topology{Nodes: []Node{{ID: "a1", Zone: "a", Addr: "127.0.0.1:1", NextWeight: -1}}}).Validate(); err == nil {
		t.Fatal("a negative next weight is valid")
	}
}
