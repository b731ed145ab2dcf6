package reshard

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/zonecache/zonecache/replication"
)

// ErrNotReady is wrapped by Ready's error: clients do not yet write the
// keys that move to their new owners.
var ErrNotReady = errors.New("reshard: writes do not reach the new owners yet")

// Intermediate returns the topology clients use while a reshard copies,
// at the epoch after cur's: every node of cur and tgt, those tgt adds
// warming (they take the writes of the keys they take over and serve no
// reads) and those it removes draining (they serve the reads of their keys
// until the cutover and take no new ones). The nodes of zones tgt removes
// are warming: they still take writes but serve no reads, so that no
// reader is left reading them when they leave one by one. Weights are
// cur's, and a node whose weight tgt changes has tgt's as its NextWeight
// (its write ring uses it: the new owners take the writes).
func Intermediate(cur, tgt replication.Topology) replication.Topology {
	out := replication.Topology{Epoch: cur.Epoch + 1}
	for _, n := range cur.Nodes {
		t, kept := tgt.Node(n.ID)
		n.NextWeight = 0
		switch {
		case !kept && slices.Contains(tgt.Zones(), n.Zone):
			n.State = replication.Draining
		case !kept:
			n.State = replication.Warming
		case kept && t.EffectiveWeight() != n.EffectiveWeight():
			n.NextWeight = t.EffectiveWeight()
		}
		out.Nodes = append(out.Nodes, n)
	}
	for _, n := range tgt.Nodes {
		if _, ok := cur.Node(n.ID); !ok {
			n.State = replication.Warming
			out.Nodes = append(out.Nodes, n)
		}
	}
	return out
}

// Switch returns the topology clients use between the copy and the
// cutover, at the epoch after Intermediate's: reads move to the new owners
// while writes still reach the old ones too, so that a client still on the
// intermediate topology, reading an old owner, reads no value older than a
// write made by a client already here. The nodes tgt adds are draining
// (they serve the reads of their keys and, as read owners, take their
// writes), those it removes from a zone it keeps warming (writes, no
// reads), those of a zone it removes warming as in Intermediate, and a
// reweighted node has tgt's weight with cur's as NextWeight (reads placed
// with the new weight, writes with the old). The nodes of a zone tgt adds
// serve: no client read them before.
func Switch(cur, tgt replication.Topology) replication.Topology {
	out := replication.Topology{Epoch: cur.Epoch + 2}
	for _, n := range cur.Nodes {
		t, kept := tgt.Node(n.ID)
		switch {
		case !kept:
			n.State, n.NextWeight = replication.Warming, 0
		case n.EffectiveState().ServesReads():
			was := n.EffectiveWeight()
			n, n.State, n.NextWeight = t, "", 0
			if t.EffectiveWeight() != was {
				n.NextWeight = was
			}
		default: // warming or joining: new to the readers
			n, n.State, n.NextWeight = t, newReader(cur, t.Zone), 0
		}
		out.Nodes = append(out.Nodes, n)
	}
	for _, n := range tgt.Nodes {
		if _, ok := cur.Node(n.ID); !ok {
			n.State, n.NextWeight = newReader(cur, n.Zone), 0
			out.Nodes = append(out.Nodes, n)
		}
	}
	return out
}

// newReader is the state in Switch of a node new to the readers of zone:
// draining where cur's nodes serve the zone's reads (the old owners keep
// the writes), serving in a zone cur does not read.
func newReader(cur replication.Topology, zone string) replication.NodeState {
	if serves(cur, zone) {
		return replication.Draining
	}
	return ""
}

// Ready reports whether clients using cur already write every key of
// tgt's zones to its owner in tgt: in each zone, the nodes taking writes
// in cur are tgt's nodes, with the same weights (Node.WriteWeight). Copy
// must not start before, or a write made during the copy would miss its
// new owner.
func Ready(cur, tgt replication.Topology) error {
	for _, z := range tgt.Zones() {
		writers := ringOf(cur.ZoneNodes(z, replication.NodeState.TakesWrites), replication.Node.WriteWeight)
		owners := ringOf(tgt.ZoneNodes(z, nil), replication.Node.EffectiveWeight)
		if !slices.Equal(writers, owners) {
			return fmt.Errorf("%w: zone %s: clients write to %v, the new owners are %v: start the new nodes warming and set the leaving ones draining first",
				ErrNotReady, z, writers, owners)
		}
	}
	return nil
}

// ringOf names nodes with their weights, sorted: what a ring is made of.
func ringOf(nodes []replication.Node, weight func(replication.Node) int) []string {
	out := make([]string, len(nodes))
	slices.SortFunc(nodes, func(a, b replication.Node) int { return cmp.Compare(a.ID, b.ID) })
	for i, n := range nodes {
		out[i] = fmt.Sprintf("%s@%s/%d", n.ID, n.Addr, weight(n))
	}
	return out
}
