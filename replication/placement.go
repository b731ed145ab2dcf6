package replication

import (
	"fmt"
	"unsafe"

	"github.com/zonecache/zonecache/sharding"
)

// Placement is where one topology puts keys: per zone, a read ring over the
// nodes that serve reads (serving, draining) and a write ring over the nodes
// that take writes (warming, serving), weighted by Node.WriteWeight. It is the one placement function the
// client, the warmer and the servers' ownership purge share, so that they
// agree on which node holds a key. It is immutable and safe for concurrent
// use.
type Placement struct {
	zones map[string]*ZonePlacement
	names []string
}

// ZonePlacement is one zone of a Placement. ReadNodes and WriteNodes are the
// nodes of its rings, in topology order; ReadIndex and WriteIndex index them.
type ZonePlacement struct {
	// Name is the zone's name.
	Name string
	// ReadNodes are the zone's nodes that serve reads.
	ReadNodes []Node
	// WriteNodes are the zone's nodes that take writes.
	WriteNodes []Node

	read, write *sharding.Ring
}

// NewPlacement builds the rings of every zone of t with the ring
// configuration cfg (the clients' Config.Sharding: every party must use the
// same). Joining nodes are in no ring. It fails when a ring cannot be built
// (the error names the zone and wraps sharding's sentinel); it does not
// validate t otherwise.
func NewPlacement(t Topology, cfg sharding.Config) (*Placement, error) {
	names := t.Zones()
	p := &Placement{zones: make(map[string]*ZonePlacement, len(names)), names: names}
	for _, zn := range names {
		z := &ZonePlacement{
			Name:       zn,
			ReadNodes:  t.ZoneNodes(zn, NodeState.ServesReads),
			WriteNodes: t.ZoneNodes(zn, NodeState.TakesWrites),
		}
		var err error
		if z.read, err = ring(z.ReadNodes, Node.EffectiveWeight, cfg); err != nil {
			return nil, fmt.Errorf("zone %s: read ring: %w", zn, err)
		}
		if z.write, err = ring(z.WriteNodes, Node.WriteWeight, cfg); err != nil {
			return nil, fmt.Errorf("zone %s: write ring: %w", zn, err)
		}
		p.zones[zn] = z
	}
	return p, nil
}

// ring builds a sharding ring over nodes, index-aligned with them, each
// with the weight weight gives.
func ring(nodes []Node, weight func(Node) int, cfg sharding.Config) (*sharding.Ring, error) {
	sn := make([]sharding.Node, len(nodes))
	for i, n := range nodes {
		sn[i] = sharding.Node{ID: n.ID, Addr: n.Addr, Weight: weight(n)}
	}
	return sharding.New(sn, cfg)
}

// Zones returns the names of the placement's zones, sorted.
func (p *Placement) Zones() []string { return append([]string(nil), p.names...) }

// Zone returns the placement of zone, or nil when the topology has no node
// there. The methods of a nil *ZonePlacement find no owner.
func (p *Placement) Zone(zone string) *ZonePlacement { return p.zones[zone] }

// ReadIndex returns the index in ReadNodes of the node that serves reads of
// key, or -1 when no node of the zone serves reads.
func (z *ZonePlacement) ReadIndex(key string) int {
	if z == nil {
		return -1
	}
	return z.read.IndexString(key)
}

// WriteIndex returns the index in WriteNodes of the node that owns key in
// the write ring, or -1 when no node of the zone takes writes.
func (z *ZonePlacement) WriteIndex(key string) int {
	if z == nil {
		return -1
	}
	return z.write.IndexString(key)
}

// ReadOwner returns the node that serves reads of key; ok is false when no
// node of the zone serves reads.
func (z *ZonePlacement) ReadOwner(key string) (n Node, ok bool) {
	if i := z.ReadIndex(key); i >= 0 {
		return z.ReadNodes[i], true
	}
	return Node{}, false
}

// WriteOwner returns the node that owns key in the write ring; ok is false
// when no node of the zone takes writes.
func (z *ZonePlacement) WriteOwner(key string) (n Node, ok bool) {
	if i := z.WriteIndex(key); i >= 0 {
		return z.WriteNodes[i], true
	}
	return Node{}, false
}

// Targets returns the nodes of the zone a write of key goes to: the write
// owner and, when it differs, the read owner. The second covers a draining
// node (it serves the key's reads until it leaves, so it must not keep an
// old value) and a serving node whose key a warming node is taking over
// (reads go to it until the warming node serves).
func (z *ZonePlacement) Targets(key string) []Node {
	w, r := z.TargetIndexes(key)
	var out []Node
	if w >= 0 {
		out = append(out, z.WriteNodes[w])
	}
	if r >= 0 {
		out = append(out, z.ReadNodes[r])
	}
	return out
}

// TargetIndexes is Targets as indexes, without allocating: w in WriteNodes
// (-1 when no node takes writes) and r in ReadNodes (-1 when no node serves
// reads or the read owner is the write owner).
func (z *ZonePlacement) TargetIndexes(key string) (w, r int) {
	if z == nil {
		return -1, -1
	}
	w, r = z.write.IndexString(key), z.read.IndexString(key)
	if r >= 0 && w >= 0 && z.ReadNodes[r].ID == z.WriteNodes[w].ID {
		r = -1
	}
	return w, r
}

// Holds reports whether the node with id holds key under this placement:
// it is the key's read owner or its write owner, so clients read the key
// from it or write the key to it. A node that does not hold a key must not
// keep a copy: when ownership comes back to it, the copy would be older
// than the writes made meanwhile. Holds does not allocate; key is not kept.
func (z *ZonePlacement) Holds(id string, key []byte) bool {
	if z == nil {
		return false
	}
	if i := z.read.Index(key); i >= 0 && z.ReadNodes[i].ID == id {
		return true
	}
	if i := z.write.Index(key); i >= 0 && z.WriteNodes[i].ID == id {
		return true
	}
	return false
}

// IsReadOwner reports whether the node with id serves the reads of key. It
// does not allocate; key is not kept.
func (z *ZonePlacement) IsReadOwner(id string, key []byte) bool {
	if z == nil {
		return false
	}
	i := z.read.Index(key)
	return i >= 0 && z.ReadNodes[i].ID == id
}

// HoldsString is Holds for a string key; it does not allocate.
func (z *ZonePlacement) HoldsString(id, key string) bool {
	return z.Holds(id, unsafe.Slice(unsafe.StringData(key), len(key)))
}

// InRing reports whether the node with id is in the zone's read or write
// ring, that is, whether it holds any key at all.
func (z *ZonePlacement) InRing(id string) bool {
	if z == nil {
		return false
	}
	for _, ns := range [][]Node{z.ReadNodes, z.WriteNodes} {
		for _, n := range ns {
			if n.ID == id {
				return true
			}
		}
	}
	return false
}

// Departed returns the nodes of prev's zone that held key under prev and do
// not under z: after a move, the previous owners whose copy of key a
// client without a server-side purge (stock memcached) may invalidate, so
// that ownership moving back finds no old copy. Either may be nil.
func (z *ZonePlacement) Departed(prev *ZonePlacement, key string) []Node {
	var out []Node
	for _, n := range prev.Targets(key) {
		if !z.HoldsString(n.ID, key) {
			out = append(out, n)
		}
	}
	return out
}
