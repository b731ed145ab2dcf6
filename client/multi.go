package client

import (
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
// still missing. ErrUnavailable only when keys are left and no node answered.
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
}

// multiGet is one GetMulti call. mu guards found, the keys' flags,
// answered and lastErr while a zone's nodes answer in parallel.
type multiGet struct {
	c        *Client
	v        *view
	readAt   time.Time // bounds the age of its read repairs
	local    bool      // the read order starts with the client's zone
	found    map[string]Item
	pending  []*multiKey
	mu       sync.Mutex
	answered bool
	lastErr  error
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
	for zi, zone := range g.v.order {
		if len(g.pending) == 0 || ctx.Err() != nil {
			break
		}
		g.askZone(ctx, zi, zone)
		g.pending = slices.DeleteFunc(g.pending, func(mk *multiKey) bool { return mk.done })
	}
	g.remember(s, all)
	return g.found, g.err(ctx)
}

// collect maps the distinct keys and makes pending those the request
// scope s cannot answer.
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
		if s != nil {
			if it, ok, known := s.lookup(g.c.c, key); known {
				if ok {
					g.found[key] = it
				}
				continue
			}
		}
		g.pending = append(g.pending, &multiKey{k: k})
	}
	return nil
}

// askZone sends the pending keys to their replicas in zone, the zi-th of
// the read order: one multi-get per node, all nodes in parallel.
func (g *multiGet) askZone(ctx context.Context, zi int, zone string) {
	var wg sync.WaitGroup
	for m, group := range g.groupByNode(zi, zone) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.askNode(ctx, zi, zone, m, group)
		}()
	}
	wg.Wait()
}

// groupByNode groups the pending keys by their replica in zone. A key with
// a repair pending there is a miss, as in read, and goes on to the next
// zone.
func (g *multiGet) groupByNode(zi int, zone string) map[*member][]*multiKey {
	groups := make(map[*member][]*multiKey)
	for _, mk := range g.pending {
		m := g.v.readReplica(zone, mk.k.node)
		switch {
		case m == nil:
		case g.c.c.gated(m, mk.k.node):
			g.answered, mk.missed = true, true
			mk.localMissed = mk.localMissed || zi == 0
		default:
			groups[m] = append(groups[m], mk)
		}
	}
	return groups
}

// askNode reads group from m and records each key's answer.
func (g *multiGet) askNode(ctx context.Context, zi int, zone string, m *member, group []*multiKey) {
	nks := make([]string, len(group))
	for i, mk := range group {
		nks[i] = mk.k.node
	}
	hits, err := g.c.c.attemptMulti(ctx, g.c.class, m, nks)
	nodeAnswered := err == nil || len(hits) > 0
	for _, mk := range group {
		ti, value, hit := g.valueOf(ctx, m, mk, hits)
		g.mu.Lock()
		switch {
		case hit:
			g.hit(zi, zone, mk, ti, value)
		case err == nil || (nodeAnswered && errors.Is(err, ErrCacheMiss)):
			g.miss(zi, zone, mk)
		default:
			g.c.c.metrics.request("get_multi", zone, resultError)
			g.lastErr = err
		}
		g.mu.Unlock()
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
