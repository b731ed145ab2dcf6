package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// GetMulti reads many keys and returns the hits by key; misses are
// absent. Each zone in read order gets one multi-get per node for the keys
// still missing, the later zones ahead of their turn when a zone is slow
// (Config.ReadHedge). With a near cache, keys it holds fresh are not asked,
// and a key no replica answered is served stale from it. ErrUnavailable
// only when keys are left and no node answered.
func (c *Client) GetMulti(ctx context.Context, keys []string) (map[string]Item, error) {
	ctx, start := c.begin(ctx, "get_multi", "")
	found, err := c.getMulti(ctx, keys)
	c.done(ctx, "get_multi", "", start, err)
	return found, err
}

// multiKey is one key of a GetMulti and how far it got.
type multiKey struct {
	k           nodeKey
	localMissed bool
	missed      bool // some zone answered with a miss
	done        bool
	gen         uint64     // the near cache's generation before the read
	held        *nearEntry // its near-cache entry past TTL, if any
}

// multiGet is one GetMulti call. Its zones are asked, maybe ahead of their
// turn, by fetchZone; their answers are taken in read order by applyZone.
type multiGet struct {
	c        *Client
	v        *view
	readAt   time.Time // bounds the age of its read repairs
	local    bool      // the read order starts with the client's zone
	found    map[string]Item
	pending  []*multiKey
	answered bool
	lastErr  error
}

// nodeAnswer is what one node answered a multi-get of group.
type nodeAnswer struct {
	m     *member
	group []*multiKey
	hits  map[string]nodeclient.Item
	err   error
}

// zoneAnswer is what a zone answered: its nodes', and the keys whose
// replica there has a repair pending (not asked: a miss, as in read).
type zoneAnswer struct {
	nodes []nodeAnswer
	gated []*multiKey
}

func (c *Client) getMulti(ctx context.Context, keys []string) (map[string]Item, error) {
	if c.c.shut.Load() {
		return nil, ErrClosed
	}
	g := &multiGet{c: c, readAt: time.Now(), found: make(map[string]Item, len(keys))}
	s := scopeFrom(ctx)
	if err := g.collect(s, keys); err != nil {
		return nil, err
	}
	all := append([]*multiKey(nil), g.pending...)
	g.v = c.c.view.Load()
	g.local = len(g.v.order) > 0 && g.v.order[0] == c.c.cfg.Zone
	g.walk(ctx)
	g.serveStale()
	g.fill(all)
	g.remember(s, all)
	return g.found, g.err(ctx)
}

// walk asks the zones in read order for the keys still pending.
func (g *multiGet) walk(ctx context.Context) {
	var pf *prefetch[zoneAnswer]
	defer func() { pf.stop() }()
	for zi, zone := range g.v.order {
		if len(g.pending) == 0 || ctx.Err() != nil {
			break
		}
		var za zoneAnswer
		if pf != nil {
			za = <-pf.res[zi]
		} else {
			pf = g.hedge(ctx, zi)
			za = g.fetchZone(ctx, zone, g.pending)
			pf = pf.await()
		}
		g.applyZone(ctx, zi, zone, za)
		g.pending = slices.DeleteFunc(g.pending, func(mk *multiKey) bool { return mk.done })
	}
}

// hedge arms a prefetch of the zones after the zi-th for the keys pending
// now, started if the zi-th zone has not answered within ReadHedge; nil
// with hedging off or no later replica up.
func (g *multiGet) hedge(ctx context.Context, zi int) *prefetch[zoneAnswer] {
	keys := slices.Clone(g.pending)
	var first *member
	up := false
	for _, mk := range keys {
		first = cmp.Or(first, g.v.readReplica(g.v.order[zi], mk.k.node))
		for _, zone := range g.v.order[zi+1:] {
			if m := g.v.readReplica(zone, mk.k.node); m != nil && m.tn.State() != nodeclient.StateOpen {
				up = true
			}
		}
		if first != nil && up {
			break
		}
	}
	if first == nil || !up || g.c.hedgeDelay(first) < 0 {
		return nil
	}
	return armPrefetch(ctx, g.c.c.metrics, g.c.hedgeDelay(first), zi, len(g.v.order), func(ctx context.Context, j int) zoneAnswer {
		return g.fetchZone(ctx, g.v.order[j], keys)
	})
}

// collect maps the distinct keys and makes pending those that neither the
// request scope s nor the near cache (fresh) can answer.
func (g *multiGet) collect(s *requestScope, keys []string) error {
	g.pending = make([]*multiKey, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, key := range keys {
		if seen[key] {
			continue
		}
		seen[key] = true
		k, err := g.c.c.mapKey(key)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		g.c.c.hot.count(k)
		if s != nil {
			if it, ok, known := s.lookup(g.c.c, key); known {
				if ok {
					g.found[key] = it
				}
				continue
			}
		}
		mk := &multiKey{k: k, gen: g.c.c.near.gen(k.node)}
		if g.nearFresh(mk) {
			if s != nil { // as Get's: the scope's later reads see it too
				s.remember(g.c.c, key, g.found[key], true)
			}
			continue
		}
		g.pending = append(g.pending, mk)
	}
	return nil
}

// nearFresh answers mk from the near cache if its entry is fresh; an entry
// past TTL is held, to serve stale if no replica answers. GetMulti reads
// such an entry afresh with the other keys rather than checking it alone.
func (g *multiGet) nearFresh(mk *multiKey) bool {
	n := g.c.c.near
	if n == nil {
		return false
	}
	e, ok := n.get(mk.k.node)
	now := time.Now()
	switch {
	case !ok:
		g.c.c.metrics.near.WithLabelValues(nearMiss).Inc()
		return false
	case n.fresh(e, now):
		g.c.c.metrics.near.WithLabelValues(nearHit).Inc()
		g.found[mk.k.app] = e.served(now, false)
		return true
	}
	g.c.c.metrics.near.WithLabelValues(nearChanged).Inc()
	mk.held = e
	return false
}

// fetchZone sends keys to their replicas in zone: one multi-get per node,
// all nodes in parallel.
func (g *multiGet) fetchZone(ctx context.Context, zone string, keys []*multiKey) zoneAnswer {
	var za zoneAnswer
	groups := make(map[*member][]*multiKey)
	for _, mk := range keys {
		m := g.v.readReplica(zone, mk.k.node)
		switch {
		case m == nil:
		case g.c.c.gated(m, mk.k.node):
			za.gated = append(za.gated, mk)
		default:
			groups[m] = append(groups[m], mk)
		}
	}
	za.nodes = make([]nodeAnswer, 0, len(groups))
	for m, group := range groups {
		za.nodes = append(za.nodes, nodeAnswer{m: m, group: group})
	}
	var wg sync.WaitGroup
	for i := range za.nodes {
		wg.Go(func() { g.askNode(ctx, &za.nodes[i]) })
	}
	wg.Wait()
	return za
}

// askNode reads a.group from a.m.
func (g *multiGet) askNode(ctx context.Context, a *nodeAnswer) {
	nks := make([]string, len(a.group))
	for i, mk := range a.group {
		nks[i] = mk.k.node
	}
	a.hits, a.err = g.c.c.attemptMulti(ctx, g.c.class, a.m, nks)
}

// applyZone records the answers of zone, the zi-th of the read order, for
// the keys not done yet.
func (g *multiGet) applyZone(ctx context.Context, zi int, zone string, za zoneAnswer) {
	for _, mk := range za.gated {
		if !mk.done {
			g.answered, mk.missed = true, true
			mk.localMissed = mk.localMissed || zi == 0
		}
	}
	for _, a := range za.nodes {
		nodeAnswered := a.err == nil || len(a.hits) > 0
		for _, mk := range a.group {
			if mk.done {
				continue
			}
			ti, value, hit := g.valueOf(ctx, a.m, mk, a.hits)
			switch {
			case hit:
				g.hit(zi, zone, mk, ti, value)
			case a.err == nil || (nodeAnswered && errors.Is(a.err, ErrCacheMiss)):
				g.miss(zi, zone, mk)
			default:
				g.c.c.metrics.request("get_multi", zone, resultError)
				g.lastErr = a.err
			}
		}
	}
}

// serveStale serves from the near cache, stale, the keys left that no
// replica answered.
func (g *multiGet) serveStale() {
	for _, mk := range g.pending {
		if !mk.done && !mk.missed && mk.held != nil {
			g.found[mk.k.app] = g.c.nearStale(mk.held, "tier_down")
			mk.done = true
		}
	}
}

// fill puts the values read into the near cache.
func (g *multiGet) fill(all []*multiKey) {
	if g.c.c.near == nil {
		return
	}
	for _, mk := range all {
		if it, ok := g.found[mk.k.app]; ok && !it.Stale {
			g.c.nearFill(mk.k, mk.gen, g.readAt, it)
		}
	}
}

// valueOf returns mk's item and value from m's hits; hit is false for a
// miss, a deleted key's tombstone, a lease stub and another key's value.
func (g *multiGet) valueOf(ctx context.Context, m *member, mk *multiKey, hits map[string]nodeclient.Item) (ti nodeclient.Item, value []byte, hit bool) {
	ti, hit = hits[mk.k.node]
	if hit && isTombstone(ti.Flags) {
		hit = false
	}
	if hit && len(ti.Value) == 0 && g.c.isLeaseStub(ctx, m, mk.k.node) {
		hit = false
	}
	if hit {
		if value, hit = mk.k.unwrap(ti.Value); !hit {
			g.c.c.metrics.collisions.Inc()
		}
	}
	return ti, value, hit
}

// hit records a value of mk found in zone, read-repairing the local zone
// when it missed there.
func (g *multiGet) hit(zi int, zone string, mk *multiKey, ti nodeclient.Item, value []byte) {
	result := resultHit
	if zi > 0 {
		result = resultFallbackHit
	}
	g.c.c.metrics.request("get_multi", zone, result)
	g.found[mk.k.app] = Item{Key: mk.k.app, Value: value, Flags: ti.Flags, TTL: ttlFromRead(ti.TTL), CAS: ti.CAS, zone: zone}
	mk.done = true
	if zi > 0 && g.local && mk.localMissed {
		g.c.c.readRepair(g.v, mk.k, ti, g.readAt)
	}
}

// miss records that zone answered mk with a miss: on to the next zone
// unless DisableFallbackOnMiss.
func (g *multiGet) miss(zi int, zone string, mk *multiKey) {
	g.c.c.metrics.request("get_multi", zone, resultMiss)
	g.answered, mk.missed = true, true
	if zi == 0 {
		mk.localMissed = true
	}
	mk.done = g.c.c.cfg.DisableFallbackOnMiss
}

// remember tells the request scope s what the call found and which keys
// missed.
func (g *multiGet) remember(s *requestScope, all []*multiKey) {
	if s == nil {
		return
	}
	for _, mk := range all {
		if it, ok := g.found[mk.k.app]; ok {
			s.remember(g.c.c, mk.k.app, it, true)
		} else if mk.missed {
			s.remember(g.c.c, mk.k.app, Item{}, false)
		}
	}
}

// err is the call's error: only when keys are left and no node answered.
func (g *multiGet) err(ctx context.Context) error {
	if len(g.pending) == 0 || g.answered || len(g.found) > 0 {
		return nil
	}
	if g.lastErr != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, g.lastErr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w: no replica of the keys", ErrUnavailable)
}

// isLeaseStub checks an empty value from a multi-get: the empty stub a
// lease left (Z, not stale) reads as a miss.
func (c *Client) isLeaseStub(ctx context.Context, m *member, key string) bool {
	var l nodeclient.Lease
	err := c.attempt(ctx, "get", m, func(ctx context.Context, p *nodeclient.Pool) error {
		var err error
		l, err = p.LeaseGet(ctx, key, nodeclient.LeaseOptions{})
		return err
	})
	return err != nil || (l.WinSent && !l.Stale && len(l.Value) == 0)
}
