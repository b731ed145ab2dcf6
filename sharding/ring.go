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
		if n.Weight < 0 {
			return nil, fmt.Errorf("%w: node %q has negative weight %d", ErrInvalidNode, n.ID, n.Weight)
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
	case HashKetama:
		var err error
		if pts, err = buildKetama(r.nodes, total, per); err != nil {
			return nil, err
		}
	}
	r.index(pts)
	return r, nil
}

// buildKetama returns the points of all nodes in ketama mode.
func buildKetama(nodes []Node, total uint64, per int) ([]point, error) {
	names := make(map[string]int, len(nodes))
	counts := make([]int, len(nodes))
	sum := 0
	for i, n := range nodes {
		name, err := ketamaName(n)
		if err != nil {
			return nil, err
		}
		if j, dup := names[name]; dup {
			return nil, fmt.Errorf("%w: ketama name %q of %q and %q", ErrDuplicateNode, name, nodes[j].ID, n.ID)
		}
		names[name] = i
		counts[i] = ketamaPointCount(uint64(n.weight()), total, len(nodes), per)
		sum += counts[i]
	}
	pts := make([]point, 0, sum)
	for i, n := range nodes {
		name, _ := ketamaName(n) // validated above
		pts = ketamaPoints(pts, name, i, counts[i])
	}
	return pts, nil
}

// index sorts the points, keeps the first owner of each position, and builds
// the bucket table. Ties go to the lower node index (libmemcached sorts by
// position, then server index); in xxhash mode to the smaller ID, so that
// placement does not depend on the order of the node list.
func (r *Ring) index(pts []point) {
	if r.mode == HashXX {
		slices.SortFunc(pts, func(a, b point) int {
			if a.pos != b.pos {
				if a.pos < b.pos {
					return -1
				}
				return 1
			}
			return strings.Compare(r.nodes[a.owner].ID, r.nodes[b.owner].ID)
		})
	} else {
		slices.SortFunc(pts, func(a, b point) int {
			switch {
			case a.pos < b.pos:
				return -1
			case a.pos > b.pos:
				return 1
			case a.owner < b.owner:
				return -1
			case a.owner > b.owner:
				return 1
			}
			return 0
		})
	}
	pts = slices.CompactFunc(pts, func(a, b point) bool { return a.pos == b.pos })
	r.circle = newCircle(pts)
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

// Node returns the node at index i (0 <= i < Len).
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

// Index returns the index of the node that owns key, or -1 if no node owns
// any point (no nodes, or in ketama mode only zero-point nodes). It does not
// allocate.
func (r *Ring) Index(key []byte) int {
	if r == nil || r.n == 0 {
		return -1
	}
	key = hashTag(key, r.delim)
	if r.mode == HashKetama {
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
