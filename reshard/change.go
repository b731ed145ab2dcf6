package reshard

import (
	"fmt"
	"slices"

	"github.com/zonecache/zonecache/replication"
)

// Change is an edit of a topology: the target of a reshard expressed as
// what changes, as the admin CLI's flags say it.
type Change struct {
	// Add lists nodes to add. A node already in the topology may be named
	// again with its zone and address (a warming node added by an earlier
	// step); its weight is then updated.
	Add []replication.Node
	// Remove lists the ids of nodes to remove.
	Remove []string
	// Weights sets nodes' weights by id.
	Weights map[string]int
	// RemoveZones lists zones to remove with every node in them. A zone
	// that Remove would empty must be named here.
	RemoveZones []string
}

// Apply returns the topology cur becomes under c, every node serving (the
// state at the end of a reshard), at the epoch after Intermediate's (cur's
// plus 2). It fails, wrapping
// ErrConfig, when c names an unknown node or zone, would empty a zone it
// does not remove, or leaves an invalid topology.
func (c Change) Apply(cur replication.Topology) (replication.Topology, error) {
	next := replication.Topology{Epoch: cur.Epoch + 2}
	if err := c.checkNames(cur); err != nil {
		return next, err
	}
	for _, n := range cur.Nodes {
		if !slices.Contains(c.Remove, n.ID) && !slices.Contains(c.RemoveZones, n.Zone) {
			n.State = ""
			next.Nodes = append(next.Nodes, n)
		}
	}
	var err error
	if next.Nodes, err = c.add(next.Nodes); err != nil {
		return next, err
	}
	if err := c.setWeights(next); err != nil {
		return next, err
	}
	for _, z := range cur.Zones() {
		if !slices.Contains(c.RemoveZones, z) && len(next.ZoneNodes(z, nil)) == 0 {
			return next, fmt.Errorf("%w: zone %s would be left with no node: add one, or remove the zone", ErrConfig, z)
		}
	}
	if err := next.Validate(); err != nil {
		return next, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return next, nil
}

// checkNames checks that the nodes and zones c removes exist in cur.
func (c Change) checkNames(cur replication.Topology) error {
	for _, id := range c.Remove {
		if _, ok := cur.Node(id); !ok {
			return fmt.Errorf("%w: remove %s: no such node", ErrConfig, id)
		}
	}
	for _, z := range c.RemoveZones {
		if !slices.Contains(cur.Zones(), z) {
			return fmt.Errorf("%w: remove zone %s: no such zone", ErrConfig, z)
		}
	}
	return nil
}

// add returns nodes with c.Add's, serving; a node already there keeps its
// place and takes the weight given.
func (c Change) add(nodes []replication.Node) ([]replication.Node, error) {
	for _, a := range c.Add {
		i := slices.IndexFunc(nodes, func(n replication.Node) bool { return n.ID == a.ID })
		if i < 0 {
			a.State = ""
			nodes = append(nodes, a)
			continue
		}
		if n := nodes[i]; n.Zone != a.Zone || n.Addr != a.Addr {
			return nil, fmt.Errorf("%w: add %s: node exists in zone %s at %s", ErrConfig, a.ID, n.Zone, n.Addr)
		}
		nodes[i].Weight = a.Weight
	}
	return nodes, nil
}

func (c Change) setWeights(t replication.Topology) error {
	for id, w := range c.Weights {
		i := slices.IndexFunc(t.Nodes, func(n replication.Node) bool { return n.ID == id })
		if i < 0 {
			return fmt.Errorf("%w: weight of %s: no such node in the target", ErrConfig, id)
		}
		if w <= 0 {
			return fmt.Errorf("%w: weight %s=%d: want a weight > 0", ErrConfig, id, w)
		}
		t.Nodes[i].Weight = w
	}
	return nil
}
