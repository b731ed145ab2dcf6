package reshard

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
	"github.com/zonecache/zonecache/warm"
)

// DefaultSkipExpiring is Config.SkipExpiring's default: an item with less
// than a minute to live is not worth a copy.
const DefaultSkipExpiring = time.Minute

// Errors wrapped by Plan's and Apply's errors.
var (
	// ErrConfig: the config or the change is not usable (unknown node,
	// zone left empty, added zone with no zone to copy it from, ...).
	ErrConfig = errors.New("reshard: invalid config")
	// ErrUnsettled: the current topology is in the middle of a change (a
	// node warming or joining that the target does not keep) or lists a
	// node that does not answer. It is warm.ErrUnsettled, which warm
	// refuses with too.
	ErrUnsettled = warm.ErrUnsettled
)

// Config describes a reshard. Zero fields take the documented defaults.
type Config struct {
	// Current is the fleet as clients see it now. Required.
	Current replication.Topology
	// Target is the fleet after the reshard (Change.Apply makes one).
	// Every node of Target is taken as serving, whatever its State.
	// Required.
	Target replication.Topology
	// FromZone is the zone whose replicas fill the zones Target adds;
	// required when it adds one.
	FromZone string
	// Sharding is the clients' ring configuration (zero value: the
	// client's default).
	Sharding sharding.Config
	// SkipExpiring leaves out items that expire within it (default
	// DefaultSkipExpiring; negative: only items already expired).
	SkipExpiring time.Duration
	// DialTimeout bounds connecting to a node for its dump (default
	// warm.DefaultDialTimeout). The dump itself is bounded by ctx.
	DialTimeout time.Duration
	// TLS, when set, makes the dumps' connections TLS (default: plain
	// TCP).
	TLS *tls.Config
	// Auth authenticates the dumps' connections to nodes that require it
	// (nil: none sent).
	Auth *nodeclient.Credentials
}

// dial is how the dumps connect.
func (cfg Config) dial() nodeclient.Config {
	return nodeclient.Config{DialTimeout: cfg.DialTimeout, TLS: cfg.TLS, Auth: cfg.Auth}
}

// Plan is what a reshard copies: for each pair of nodes, the items whose
// owner changes from one to the other.
type Plan struct {
	// Current and Target are the topologies the plan was made for.
	Current replication.Topology `json:"current"`
	Target  replication.Topology `json:"target"`
	// Moves are the copies to make, ordered by zone, source and
	// destination.
	Moves []Move `json:"moves"`
	// Stale lists, per node, stray items it holds of keys it takes over:
	// Copy deletes them first, or add would keep these maybe old values.
	Stale []Stale `json:"stale,omitempty"`
	// Stats counts the items the dumps listed (in a WarmPlan, Unchanged
	// counts the items the target does not own).
	Stats Stats `json:"stats"`
}

// Stale is the stray keys on one node that the node takes over.
type Stale struct {
	// Node holds the keys.
	Node replication.Node `json:"node"`
	// Keys are the keys to delete from Node before the copy.
	Keys []string `json:"keys"`
}

// Move is the items that go from one node to another node of Zone.
type Move struct {
	// Zone is the destination's zone (the source is in another zone when
	// Zone is added by the reshard).
	Zone string `json:"zone"`
	// From holds the items now: their read owner in its zone.
	From replication.Node `json:"from"`
	// To owns them in Zone after the reshard.
	To replication.Node `json:"to"`
	// Items are the items to copy, hottest (latest access) first.
	Items []warm.Item `json:"items"`
	// Bytes is the sum of the items' sizes on From.
	Bytes int64 `json:"bytes"`
}

// Stats counts the items of a plan's dumps. Each listed item is counted in
// exactly one of Stray, Expiring, Unchanged and Moving.
type Stats struct {
	// Scanned is the number of items the source nodes listed.
	Scanned int64 `json:"scanned"`
	// Stray counts items held by a node that does not serve their reads
	// (left over from an earlier change): never copied, they may be old.
	// Those of keys the node takes over are in Plan.Stale too.
	Stray int64 `json:"stray"`
	// Expiring counts items that expire within Config.SkipExpiring.
	Expiring int64 `json:"expiring"`
	// Unchanged counts items whose owner stays.
	Unchanged int64 `json:"unchanged"`
	// Moving counts items with at least one move (one to a new owner in
	// their zone and one to an added zone count once).
	Moving int64 `json:"moving"`
	// Malformed counts dump lines that could not be parsed.
	Malformed int64 `json:"malformed"`
}

// Keys returns the number of item copies the plan makes.
func (p *Plan) Keys() int64 {
	var n int64
	for _, m := range p.Moves {
		n += int64(len(m.Items))
	}
	return n
}

// Bytes returns the bytes the plan copies (the items' sizes on their
// sources).
func (p *Plan) Bytes() int64 {
	var n int64
	for _, m := range p.Moves {
		n += m.Bytes
	}
	return n
}

// Estimate returns how long copying keys items of bytes bytes takes at
// most keysPerSec items and bytesPerSec bytes per second (0: no limit);
// 0 when neither limits.
func Estimate(keys, bytes int64, keysPerSec, bytesPerSec float64) time.Duration {
	var s float64
	if keysPerSec > 0 {
		s = float64(keys) / keysPerSec
	}
	if bytesPerSec > 0 {
		s = max(s, float64(bytes)/bytesPerSec)
	}
	return time.Duration(s * float64(time.Second))
}

// NewPlan dumps the nodes that hold items whose owner changes from
// cfg.Current to cfg.Target (every serving node of a zone that both have,
// and of FromZone when Target adds a zone) and returns the moves. It fails
// before any I/O, wrapping ErrConfig or ErrUnsettled, when cfg does not
// allow a reshard, and when a dump fails (a plan must see every item),
// wrapping ErrUnsettled when a source node does not answer.
func NewPlan(ctx context.Context, cfg Config) (*Plan, error) {
	p, err := newPlanner(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	if err := warm.CheckAnswering(ctx, p.sources(), cfg.dial()); err != nil {
		return nil, fmt.Errorf("reshard: %w", err)
	}
	for _, src := range p.sources() {
		bad, err := warm.Dump(ctx, src.Addr, cfg.dial(), func(it warm.Item) { p.observe(src, it) })
		p.stats.Malformed += bad
		if err != nil {
			return nil, fmt.Errorf("reshard: dump %s (%s): %w", src.ID, src.Addr, err)
		}
	}
	return p.plan(), nil
}

// planner turns dumped items into moves; it does no I/O.
type planner struct {
	curTop, tgtTop replication.Topology
	cur, tgt       *replication.Placement
	// into maps the source zone to the zones the target adds.
	into map[string][]string
	// expireBefore: items expiring earlier (Unix time) are skipped.
	expireBefore int64
	moves        map[[3]string]*Move
	stale        map[string]*Stale
	stats        Stats
}

func newPlanner(cfg Config, now time.Time) (*planner, error) {
	tgt := cfg.Target
	tgt.Nodes = slices.Clone(tgt.Nodes)
	for i := range tgt.Nodes {
		tgt.Nodes[i].State, tgt.Nodes[i].NextWeight = "", 0
	}
	if err := check(cfg.Current, tgt); err != nil {
		return nil, err
	}
	into, err := addedZones(cfg.Current, tgt, cfg.FromZone)
	if err != nil {
		return nil, err
	}
	cur, err := replication.NewPlacement(cfg.Current, cfg.Sharding)
	if err != nil {
		return nil, fmt.Errorf("%w: current: %w", ErrConfig, err)
	}
	tp, err := replication.NewPlacement(tgt, cfg.Sharding)
	if err != nil {
		return nil, fmt.Errorf("%w: target: %w", ErrConfig, err)
	}
	skip := cfg.SkipExpiring
	if skip == 0 {
		skip = DefaultSkipExpiring
	}
	return &planner{curTop: cfg.Current, tgtTop: tgt, cur: cur, tgt: tp, into: into,
		expireBefore: now.Add(max(skip, 0)).Unix() + 1, moves: map[[3]string]*Move{}, stale: map[string]*Stale{}}, nil
}

// check validates both topologies and refuses a current one in the
// middle of a change: a node warming or joining that the target does not
// keep, in a zone it keeps (those of a zone it removes are warming in the
// intermediate topology).
func check(cur, tgt replication.Topology) error {
	if len(tgt.Nodes) == 0 {
		return fmt.Errorf("%w: the target has no node", ErrConfig)
	}
	if err := cur.Validate(); err != nil {
		return fmt.Errorf("%w: current: %w", ErrConfig, err)
	}
	if err := tgt.Validate(); err != nil {
		return fmt.Errorf("%w: target: %w", ErrConfig, err)
	}
	for _, n := range cur.Nodes {
		st := n.EffectiveState()
		_, kept := tgt.Node(n.ID)
		if !kept && slices.Contains(tgt.Zones(), n.Zone) && (st == replication.Warming || st == replication.Joining) {
			return fmt.Errorf("reshard: %w: node %s is %s and not in the target: finish or undo its change first", ErrUnsettled, n.ID, st)
		}
	}
	return nil
}

// serves reports whether a node of zone serves reads in t.
func serves(t replication.Topology, zone string) bool {
	return len(t.ZoneNodes(zone, replication.NodeState.ServesReads)) > 0
}

// addedZones maps from to the zones tgt adds: those with no node serving
// reads in cur (none at all, or only warming ones).
func addedZones(cur, tgt replication.Topology, from string) (map[string][]string, error) {
	var added []string
	for _, z := range tgt.Zones() {
		if !serves(cur, z) {
			added = append(added, z)
		}
	}
	switch {
	case len(added) == 0 && from != "":
		return nil, fmt.Errorf("%w: a zone to copy from (%s) but no zone added", ErrConfig, from)
	case len(added) == 0:
		return nil, nil
	case from == "":
		return nil, fmt.Errorf("%w: zones %v are added: name the zone to copy them from", ErrConfig, added)
	case !serves(cur, from):
		return nil, fmt.Errorf("%w: zone %s to copy from has no node serving reads", ErrConfig, from)
	}
	return map[string][]string{from: added}, nil
}

// sources returns the nodes to dump, in topology order: every node serving
// reads in a zone whose ring the target changes or that the target copies
// into an added zone.
func (p *planner) sources() []replication.Node {
	var out []replication.Node
	for _, n := range p.curTop.Nodes {
		if n.EffectiveState().ServesReads() && (p.reshuffled(n.Zone) || len(p.into[n.Zone]) > 0) {
			out = append(out, n)
		}
	}
	return out
}

// reshuffled reports whether the target keeps zone with another read ring:
// other nodes or other weights.
func (p *planner) reshuffled(zone string) bool {
	before, after := p.cur.Zone(zone), p.tgt.Zone(zone)
	if after == nil {
		return false
	}
	return !slices.EqualFunc(before.ReadNodes, after.ReadNodes, func(a, b replication.Node) bool {
		return a.ID == b.ID && a.Addr == b.Addr && a.EffectiveWeight() == b.EffectiveWeight()
	})
}

// observe classifies one item dumped from src.
func (p *planner) observe(src replication.Node, it warm.Item) {
	p.stats.Scanned++
	if owner, ok := p.cur.Zone(src.Zone).ReadOwner(it.Key); !ok || owner.ID != src.ID {
		p.stray(src, it.Key)
		return
	}
	if it.Exp >= 0 && it.Exp < p.expireBefore {
		p.stats.Expiring++
		return
	}
	moved := false
	for _, z := range append([]string{src.Zone}, p.into[src.Zone]...) {
		if z == src.Zone && !p.reshuffled(z) {
			continue
		}
		to, ok := p.tgt.Zone(z).ReadOwner(it.Key)
		if !ok || to.ID == src.ID {
			continue
		}
		m := p.moves[[3]string{z, src.ID, to.ID}]
		if m == nil {
			m = &Move{Zone: z, From: src, To: to}
			p.moves[[3]string{z, src.ID, to.ID}] = m
		}
		m.Items = append(m.Items, it)
		m.Bytes += it.Size
		moved = true
	}
	if moved {
		p.stats.Moving++
	} else {
		p.stats.Unchanged++
	}
}

// stray counts key, on src that does not serve it, and lists it stale when
// src takes it over.
func (p *planner) stray(src replication.Node, key string) {
	p.stats.Stray++
	if to, ok := p.tgt.Zone(src.Zone).ReadOwner(key); ok && to.ID == src.ID {
		if p.stale[src.ID] == nil {
			p.stale[src.ID] = &Stale{Node: src}
		}
		p.stale[src.ID].Keys = append(p.stale[src.ID].Keys, key)
	}
}

// plan returns the moves so far, each ordered hottest first.
func (p *planner) plan() *Plan {
	out := &Plan{Current: p.curTop, Target: p.tgtTop, Stats: p.stats}
	for _, m := range p.moves {
		slices.SortFunc(m.Items, func(a, b warm.Item) int {
			return cmp.Or(cmp.Compare(b.LastAccess, a.LastAccess), cmp.Compare(a.Key, b.Key))
		})
		out.Moves = append(out.Moves, *m)
	}
	slices.SortFunc(out.Moves, func(a, b Move) int {
		return cmp.Or(cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.From.ID, b.From.ID), cmp.Compare(a.To.ID, b.To.ID))
	})
	for _, st := range p.stale {
		out.Stale = append(out.Stale, *st)
	}
	slices.SortFunc(out.Stale, func(a, b Stale) int { return cmp.Compare(a.Node.ID, b.Node.ID) })
	return out
}
