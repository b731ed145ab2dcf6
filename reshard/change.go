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
	// again with its zone and address (a warming node started for this
	// change); its weight is then updated. Warming and joining nodes not
	// named here are left out of the target (and NewPlan refuses them).
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
// state at the end of a reshard), at the epoch after Switch's (cur's plus
// 3). It fails, wrapping
// ErrConfig, when c names an unknown node or zone, would empty a zone it
// does not remove, or leaves an invalid topology.
func (c Change) Apply(cur replication.Topology) (replication.Topology, error) {
	next := replication.Topology{Epoch: cur.Epoch + 3}
	if err := c.checkNames(cur); err != nil {
		return next, err
	}
	for _, n := range cur.Nodes {
		if c.keeps(n) {
			n.State, n.NextWeight = "", 0
			next.Nodes = append(next.Nodes, n)
		}
	}
	var err error
	if next.Nodes, err = c.add(cur, next.Nodes); err != nil {
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

// keeps reports whether n stays: not removed, and not warming or joining
// unless c adds it (a node left so by an unfinished change is not adopted).
func (c Change) keeps(n replication.Node) bool {
	if slices.Contains(c.Remove, n.ID) || slices.Contains(c.RemoveZones, n.Zone) {
		return false
	}
	st := n.EffectiveState()
	return st != replication.Warming && st != replication.Joining
}

// add returns nodes with c.Add's, serving. A node of cur may be added
// again (a warming node started for this change) at its zone and address.
func (c Change) add(cur replication.Topology, nodes []replication.Node) ([]replication.Node, error) {
	for _, a := range c.Add {
		if n, ok := cur.Node(a.ID); ok && (n.Zone != a.Zone || n.Addr != a.Addr) {
			return nil, fmt.Errorf("%w: add %s: node exists in zone %s at %s", ErrConfig, a.ID, n.Zone, n.Addr)
		}
		if i := slices.IndexFunc(nodes, func(n replication.Node) bool { return n.ID == a.ID }); i >= 0 {
			nodes[i].Weight = a.Weight
			continue
		}
		a.State = ""
		nodes = append(nodes, a)
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
