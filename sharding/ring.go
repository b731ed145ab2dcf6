package sharding

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Ring is an immutable consistent-hash ring over a list of nodes. Build it
// with [New]; it is safe for concurrent use. A nil *Ring has no nodes.
type Ring struct {
	nodes  []Node
	mode   HashMode
	probes int
	delim  []byte
	circle
}

// New builds a ring over nodes with cfg. The node list is copied; the index
// returned by lookups refers to this order. An empty list gives a valid ring
// whose lookups find nothing. New fails (errors.Is) with [ErrInvalidConfig],
// [ErrInvalidNode] or [ErrDuplicateNode].
func New(nodes []Node, cfg Config) (*Ring, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Ring{
		nodes:  slices.Clone(nodes),
		mode:   cfg.Mode,
		probes: cfg.probes(),
	}
	if cfg.HashTagDelimiter != "" {
		r.delim = []byte(cfg.HashTagDelimiter)
	}
	ids := make(map[string]int, len(nodes))
	var total uint64
	for i, n := range nodes {
		if n.ID == "" {
			return nil, fmt.Errorf("%w: node %d has an empty ID", ErrInvalidNode, i)
		}
		if n.Weight < 0 || n.Weight > maxPoints {
			return nil, fmt.Errorf("%w: node %q has weight %d, want 0..%d", ErrInvalidNode, n.ID, n.Weight, maxPoints)
		}
		if cfg.Mode == HashKetamaEVCache && n.Weight > 1 {
			return nil, fmt.Errorf("%w: node %q has weight %d; EVCache ketama has no weights", ErrInvalidNode, n.ID, n.Weight)
		}
		if j, dup := ids[n.ID]; dup {
			return nil, fmt.Errorf("%w: ID %q at %d and %d", ErrDuplicateNode, n.ID, j, i)
		}
		ids[n.ID] = i
		total += uint64(n.weight())
	}
	per := cfg.pointsPerNode()
	if total*uint64(per) > maxPoints {
		return nil, fmt.Errorf("%w: %d nodes with total weight %d need more than %d points",
			ErrInvalidConfig, len(nodes), total, maxPoints)
	}
	var pts []point
	switch cfg.Mode {
	case HashXX:
		pts = make([]point, 0, total*uint64(per))
		for i, n := range r.nodes {
			pts = xxPoints(pts, n, i, per)
		}
	case HashKetama, HashKetamaEVCache:
		var err error
		if pts, err = buildKetama(r.nodes, cfg.Mode, total, per); err != nil {
			return nil, err
		}
	}
	r.index(pts)
	return r, nil
}

// index sorts the points, keeps one owner per position, and builds the
// lookup circle. Ties go to the lower node index in ketama mode (libmemcached
// sorts by position, then server index), to the higher index in EVCache mode
// (its TreeMap keeps the node put last), and to the smaller ID in xxhash mode,
// so that xxhash placement does not depend on the order of the node list.
func (r *Ring) index(pts []point) {
	// rank[i] orders node i among nodes at the same position; byRank inverts it.
	n := len(r.nodes)
	rank := make([]uint32, n)
	byRank := make([]uint32, n)
	switch r.mode {
	case HashXX:
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(r.nodes[a].ID, r.nodes[b].ID) })
		for k, i := range order {
			rank[i] = uint32(k)
		}
	case HashKetamaEVCache:
		for i := range rank {
			rank[i] = uint32(n - 1 - i)
		}
	default:
		for i := range rank {
			rank[i] = uint32(i)
		}
	}
	for i, k := range rank {
		byRank[k] = uint32(i)
	}
	ent := make([]uint64, len(pts), len(pts)+scanWidth)
	for i, p := range pts {
		ent[i] = uint64(p.pos)<<32 | uint64(rank[p.owner])
	}
	ent = sortEntries(ent, make([]uint64, len(ent), len(ent)+scanWidth))
	ent = slices.CompactFunc(ent, func(a, b uint64) bool { return a>>32 == b>>32 })
	for i, e := range ent {
		ent[i] = e&^0xffffffff | uint64(byRank[uint32(e)])
	}
	r.circle = newCircle(ent)
}

// Len returns the number of nodes.
func (r *Ring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.nodes)
}

// Nodes returns a copy of the node list, in the order given to [New].
func (r *Ring) Nodes() []Node {
	if r == nil {
		return nil
	}
	return slices.Clone(r.nodes)
}

// Node returns the node at index i; it panics unless 0 <= i < Len.
func (r *Ring) Node(i int) Node {
	return r.nodes[i]
}

// Mode returns the ring's hash mode.
func (r *Ring) Mode() HashMode {
	if r == nil {
		return HashXX
	}
	return r.mode
}

// Index returns the index (into [Ring.Nodes]) of the node that owns key, or
// -1 if the ring has no nodes. It does not allocate.
func (r *Ring) Index(key []byte) int {
	if r == nil || r.n == 0 {
		return -1
	}
	key = hashTag(key, r.delim)
	if r.mode != HashXX {
		return int(uint32(r.next(ketamaKeyHash(key))))
	}
	return int(uint32(r.probe(xxhash.Sum64(key))))
}

// probe returns the entry of the point that follows one of the key's probe
// positions most closely. Probe 0 is the high half of the key's hash h, probe
// 1 the low half, later probes come from remixing h. Ties go to the earlier
// probe. Adding a node can only make its own points the closest, so keys move
// only to a new node, and removing a node moves only its keys.
func (r *Ring) probe(h uint64) uint64 {
	p := uint32(h >> 32)
	best := r.next(p)
	if r.probes == 1 {
		return best
	}
	bestDist := uint32(best>>32) - p // clockwise distance, mod 2^32
	p = uint32(h)
	if e := r.next(p); uint32(e>>32)-p < bestDist {
		best, bestDist = e, uint32(e>>32)-p
	}
	for k := 2; k < r.probes; k++ {
		h = remix(h)
		p = uint32(h >> 32)
		if e := r.next(p); uint32(e>>32)-p < bestDist {
			best, bestDist = e, uint32(e>>32)-p
		}
	}
	return best
}

// remix derives a new 64-bit hash from h (the splitmix64 finalizer on h plus
// the golden-ratio increment).
func remix(h uint64) uint64 {
	h += 0x9e3779b97f4a7c15
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

// IndexString is [Ring.Index] for a string key; it does not allocate.
func (r *Ring) IndexString(key string) int {
	return r.Index(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// Lookup returns the node that owns key; ok is false when the ring has no
// nodes.
func (r *Ring) Lookup(key string) (n Node, ok bool) {
	i := r.IndexString(key)
	if i < 0 {
		return Node{}, false
	}
	return r.nodes[i], true
}
