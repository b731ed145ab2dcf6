package client

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/maypok86/otter/v2"
	"github.com/zonecache/zonecache/nodeclient"
)

// Defaults of NearCacheConfig's zero fields.
const (
	DefaultNearTTL      = time.Second
	DefaultNearMaxStale = time.Minute
)

// nearOverhead is what an entry costs besides its key and value (entry,
// Item, the cache's node), counted against NearCacheConfig.MaxBytes.
const nearOverhead = 160

// NearCacheConfig configures the client's opt-in near cache: values read
// (Get, GetMulti, GetOrLoad) kept in this process, bounded in bytes, with an
// admission policy that resists scans (W-TinyLFU, github.com/maypok86/otter).
// An entry is served for TTL; after that, the next read checks it with the
// replica it came from (an mg asking for the CAS only) and serves it again
// if it has not changed, else reads it afresh. So a write by another
// process is seen at most TTL (plus the check's round trip) after it was
// acknowledged; this client's own writes, deletes and touches drop the
// key's entry at once. While every replica of the key is down, entries are
// served past TTL (up to MaxStale) with Item.Stale set.
type NearCacheConfig struct {
	// MaxBytes bounds the cache: keys, values and about 160 bytes of
	// overhead per entry. 0 (the default) turns the near cache off.
	MaxBytes int64
	// TTL is how long an entry is served without asking a replica: the
	// bound on staleness (default DefaultNearTTL, 1 s).
	TTL time.Duration
	// MaxStale is how long after TTL an entry is kept, to be checked
	// cheaply or served stale while the tier is down (default
	// DefaultNearMaxStale, 1 min). Never beyond the item's own TTL.
	MaxStale time.Duration
	// HotOnly admits only keys the hot-key sketch finds hot (see
	// HotKeys): a small cache that takes a hot key's load off its replica,
	// as groupcache's hot cache does.
	HotOnly bool
}

func (n NearCacheConfig) withDefaults() NearCacheConfig {
	if n.TTL <= 0 {
		n.TTL = DefaultNearTTL
	}
	if n.MaxStale <= 0 {
		n.MaxStale = DefaultNearMaxStale
	}
	return n
}

// nearEntry is one value in the near cache: the item as read, the replica
// whose CAS it carries, and when it was last known current.
type nearEntry struct {
	item    Item
	node    string    // ID of the replica item.CAS is from; "": loaded
	expires time.Time // the item's own expiry; zero: none
	checked atomic.Int64
	// refreshing: a GetOrLoad that served it stale is loading it anew.
	refreshing atomic.Bool
}

// nearStripes is the number of invalidation generations (by key hash).
const nearStripes = 256

// nearCache is the client's near cache. A fill records the generation of
// its key's stripe before its read and is dropped if an invalidation came
// in between, so a read racing this client's own write cannot put the old
// value back.
type nearCache struct {
	cfg   NearCacheConfig
	cache *otter.Cache[string, *nearEntry]
	gens  [nearStripes]atomic.Uint64
}

func newNearCache(cfg NearCacheConfig) (*nearCache, error) {
	cfg = cfg.withDefaults()
	c, err := otter.New(&otter.Options[string, *nearEntry]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher: func(key string, e *nearEntry) uint32 {
			return uint32(min(len(key)+len(e.item.Key)+len(e.item.Value)+nearOverhead, 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *nearEntry]) time.Duration {
			return e.Value.keep(cfg.TTL + cfg.MaxStale)
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: near cache: %w", ErrInvalidConfig, err)
	}
	return &nearCache{cfg: cfg, cache: c}, nil
}

// keep is how long e stays in the cache: life, or less if the item
// expires sooner.
func (e *nearEntry) keep(life time.Duration) time.Duration {
	if !e.expires.IsZero() {
		life = min(life, time.Until(e.expires))
	}
	return max(life, time.Millisecond)
}

func (n *nearCache) stripe(key string) *atomic.Uint64 {
	return &n.gens[xxhash.Sum64String(key)%nearStripes]
}

// gen returns the invalidation generation to pass to put.
func (n *nearCache) gen(key string) uint64 {
	if n == nil {
		return 0
	}
	return n.stripe(key).Load()
}

// get returns key's entry, whatever its age.
func (n *nearCache) get(key string) (*nearEntry, bool) {
	if n == nil {
		return nil, false
	}
	return n.cache.GetIfPresent(key)
}

// put caches it, read from replica node by a read that began at readAt,
// unless key was invalidated since gen was taken. The entry counts as
// current from readAt, so its TTL bounds how long after a write it can be
// served.
func (n *nearCache) put(key string, gen uint64, it Item, node string, readAt time.Time) {
	if n == nil || it.Stale || n.gen(key) != gen {
		return
	}
	e := &nearEntry{item: it, node: node}
	if it.TTL > 0 {
		e.expires = time.Now().Add(it.TTL)
	}
	e.checked.Store(readAt.UnixNano())
	n.cache.Set(key, e)
	if n.gen(key) != gen { // invalidated while being set
		n.cache.Invalidate(key)
	}
}

// invalidate drops key's entry and fails the fills under way.
func (n *nearCache) invalidate(key string) {
	if n == nil {
		return
	}
	n.stripe(key).Add(1)
	n.cache.Invalidate(key)
}

// fresh reports whether e was known current less than TTL ago.
func (n *nearCache) fresh(e *nearEntry, now time.Time) bool {
	return now.UnixNano()-e.checked.Load() < int64(n.cfg.TTL)
}

// served returns e's item as served now (its TTL what remains), marked
// stale if asked.
func (e *nearEntry) served(now time.Time, stale bool) Item {
	it := e.item
	if !e.expires.IsZero() {
		it.TTL = max(e.expires.Sub(now), time.Second)
	}
	it.Stale = stale
	return it
}

// Near-cache results of zonecache_client_near_requests_total.
const (
	nearHit         = "hit"         // fresh: served without asking a replica
	nearRevalidated = "revalidated" // checked with its replica: unchanged
	nearChanged     = "changed"     // checked: changed or gone, read afresh
	nearStale       = "stale"       // served past TTL: the tier is down
	nearMiss        = "miss"        // not cached
)

// nearLookup answers a read of k from the near cache: a fresh entry, one
// its replica says is unchanged, or (every replica down) a stale one. It
// also returns the entry it found, to serve stale if the read that
// follows finds no replica.
func (c *Client) nearLookup(ctx context.Context, k nodeKey) (it Item, ok bool, e *nearEntry) {
	n := c.c.near
	e, found := n.get(k.node)
	if !found {
		c.c.metrics.near.WithLabelValues(nearMiss).Inc()
		return Item{}, false, nil
	}
	now := time.Now()
	if n.fresh(e, now) {
		c.c.metrics.near.WithLabelValues(nearHit).Inc()
		return e.served(now, false), true, e
	}
	v := c.c.view.Load()
	if v.tierDown(k.node) {
		return c.nearStale(e, "tier_down"), true, e
	}
	if c.revalidate(ctx, v, k, e) {
		c.c.metrics.near.WithLabelValues(nearRevalidated).Inc()
		return e.served(time.Now(), false), true, e
	}
	c.c.metrics.near.WithLabelValues(nearChanged).Inc()
	return Item{}, false, e
}

// revalidate asks e's replica, without the value, whether e is current:
// the same CAS, not marked stale. A node without meta commands, a moved
// replica or any error means no.
func (c *Client) revalidate(ctx context.Context, v *view, k nodeKey, e *nearEntry) bool {
	m := v.readReplica(e.item.zone, k.node)
	if m == nil || m.node.ID != e.node || c.c.gated(m, k.node) {
		return false
	}
	gen := c.c.near.gen(k.node)
	asked := time.Now()
	var l nodeclient.Lease
	err := c.attempt(ctx, "revalidate", m, func(ctx context.Context, p *nodeclient.Pool) error {
		var err error
		l, err = p.Peek(ctx, k.node)
		return err
	})
	if err != nil || l.CAS != e.item.CAS || l.Stale || c.c.near.gen(k.node) != gen {
		return false
	}
	e.checked.Store(asked.UnixNano())
	return true
}

// nearFill caches it, read (or loaded: no zone) for k by a lookup that
// began at readAt, at generation gen.
func (c *Client) nearFill(k nodeKey, gen uint64, readAt time.Time, it Item) {
	n := c.c.near
	if n == nil || (n.cfg.HotOnly && !c.c.hot.isHot(k.node)) {
		return
	}
	node := ""
	if it.zone != "" {
		m := c.c.view.Load().readReplica(it.zone, k.node)
		if m == nil {
			return
		}
		node = m.node.ID
	}
	n.put(k.node, gen, it, node, readAt)
}

// nearStale serves e stale because no replica answered (reason
// tier_down) or the load budget was spent (origin_busy).
func (c *Client) nearStale(e *nearEntry, reason string) Item {
	c.c.metrics.near.WithLabelValues(nearStale).Inc()
	c.c.metrics.staleServed.WithLabelValues(reason).Inc()
	return e.served(time.Now(), true)
}
