package client

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/nodeclient"
)

// Loader loads a value from the origin when the cache misses. Its context
// is detached from any one caller: it ends when every caller waiting for
// the load has gone.
type Loader func(ctx context.Context) ([]byte, error)

// GetOrLoad is a read-through Get: it returns the cached value of key, or
// runs load, stores its result in every zone with ttl and returns it. One
// caller in the fleet loads a missing key, under a memcached lease; the
// package documentation ("Read-through", "Tier-down") has the rules.
// Beyond the load budget it fails with ErrOriginBusy. A loaded value has
// no CAS token (Item.CAS 0): Get it again before CompareAndSwap. As with
// Get, the Value may be shared: do not modify it.
func (c *Client) GetOrLoad(ctx context.Context, key string, ttl time.Duration, load Loader) (Item, error) {
	ctx, start := c.begin(ctx, "get_or_load", key)
	it, err := c.getOrLoad(ctx, key, ttl, load)
	c.doneRead(ctx, "get_or_load", key, start, it, err)
	return it, err
}

func (c *Client) getOrLoad(ctx context.Context, key string, ttl time.Duration, load Loader) (Item, error) {
	k, err := c.c.mapKey(key)
	if err != nil {
		return Item{}, err
	}
	c.c.hot.count(k)
	s := scopeFrom(ctx)
	if s != nil {
		if it, found, ok := s.lookup(c.c, key); ok && found {
			return it, nil
		}
	}
	var held *nearEntry
	if c.c.near != nil {
		it, ok, e := c.nearLookup(ctx, k)
		if ok {
			if it.Stale {
				c.refreshStale(e, k, ttl, load)
			}
			return it, nil
		}
		held = e
	}
	it, err := c.loadShared(ctx, k, ttl, load)
	if err != nil {
		if held != nil && errors.Is(err, ErrOriginBusy) {
			return c.nearStale(held, "origin_busy"), nil
		}
		return Item{}, err
	}
	if s != nil {
		s.remember(c.c, key, it, true)
	}
	return it, nil
}

// loadShared is GetOrLoad's lookup and load, shared by the process's
// callers of k; its value fills the near cache.
func (c *Client) loadShared(ctx context.Context, k nodeKey, ttl time.Duration, load Loader) (Item, error) {
	gen, readAt := c.c.near.gen(k.node), time.Now()
	it, _, err := c.c.loads.do(ctx, c.flightKey('l', k.node), func(fctx context.Context) (Item, error) {
		return c.leaseLoad(fctx, k, ttl, load)
	})
	if err == nil {
		c.nearFill(k, gen, readAt, it)
	}
	return it, err
}

// refreshStale loads anew, in the background and within the load
// budget, a value GetOrLoad served stale from the near cache, once at a
// time per entry, and after a failure not again before the near TTL.
func (c *Client) refreshStale(e *nearEntry, k nodeKey, ttl time.Duration, load Loader) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	retry := func() { time.AfterFunc(c.c.near.cfg.TTL, func() { e.refreshing.Store(false) }) }
	if !c.c.goBG(func(ctx context.Context) {
		if _, err := c.loadShared(ctx, k, ttl, load); err != nil {
			retry() // over budget or failed: not again before TTL
		}
	}) {
		e.refreshing.Store(false)
	}
}

// leaseCall is one GetOrLoad at m, the key's replica in the lease zone.
type leaseCall struct {
	v      *view
	m      *member
	k      nodeKey
	ttl    time.Duration
	load   Loader
	readAt time.Time // bounds the age of a read repair
	// localMissed: the local zone (not the lease zone) missed the key.
	localMissed bool
	// probe reads every zone at once if a step is slow (hedge.go).
	probe *probe
}

func (c *Client) leaseLoad(ctx context.Context, k nodeKey, ttl time.Duration, load Loader) (Item, error) {
	lc := &leaseCall{readAt: time.Now(), v: c.c.view.Load(), k: k, ttl: ttl, load: load}
	if lc.v.tierDown(k.node) {
		c.c.metrics.tierDownReads.Inc()
		return c.loadOnly(ctx, k, ttl, load)
	}
	zone := lc.v.leaseZone
	lc.m = lc.v.readReplica(zone, k.node)
	if zone == c.c.cfg.Zone {
		lc.probe = c.armProbe(ctx, lc.m, k)
	} else {
		lc.probe = c.armProbe(ctx, lc.v.readReplica(c.c.cfg.Zone, k.node), k)
	}
	defer lc.probe.stop()
	if zone != c.c.cfg.Zone {
		if it, found := c.localFirst(ctx, lc); found {
			return it, nil
		}
	}
	if lc.m == nil {
		c.c.metrics.leases.WithLabelValues("error").Inc()
		return c.plainLoad(ctx, lc)
	}
	if c.c.gated(lc.m, k.node) { // its copy awaits a repair: do without it
		return c.plainLoad(ctx, lc)
	}
	return c.awaitLease(ctx, lc)
}

// localFirst is the first step of a GetOrLoad whose lease zone is
// another: the local replica's fresh value needs no lease. If it was slow
// to answer, the probe read every zone meanwhile: its value, if any, needs
// no lease either, and each node it found frozen now fails fast.
func (c *Client) localFirst(ctx context.Context, lc *leaseCall) (Item, bool) {
	it, found, missed := c.localHit(ctx, lc.v, lc.k)
	if found {
		c.c.metrics.leases.WithLabelValues("hit").Inc()
		return it, true
	}
	lc.localMissed = missed
	if !lc.probe.started() {
		return Item{}, false
	}
	it, err := lc.probe.wait(ctx)
	return it, err == nil
}

// awaitLease asks the lease replica for the value or the lease until it
// gets one, polling with backoff while another caller holds the lease, for
// at most LeaseWait; then it loads without the lease.
func (c *Client) awaitLease(ctx context.Context, lc *leaseCall) (Item, error) {
	waitUntil := time.Now().Add(c.c.cfg.LeaseWait)
	poll := 2 * time.Millisecond
	waited := false
	for {
		l, err := c.leaseGet(ctx, lc.m, lc.k)
		if err != nil {
			return c.leaseFailed(ctx, lc, err)
		}
		lc.probe.disarm() // answered: no probe while another's load is awaited
		if it, final, err := c.leaseAnswer(ctx, lc, l, waited); final {
			return it, err
		}
		if time.Now().After(waitUntil) {
			c.c.metrics.leases.WithLabelValues("timeout").Inc()
			return c.loadAndSet(ctx, lc.k, lc.ttl, lc.load)
		}
		waited = true
		if err := backoff.Sleep(ctx, poll); err != nil {
			return Item{}, err
		}
		poll = min(2*poll, 100*time.Millisecond)
	}
}

// leaseGet is the lease lookup, an mg with N (vivify on miss); it may
// create a stub, so it is ordered as a write.
func (c *Client) leaseGet(ctx context.Context, m *member, k nodeKey) (nodeclient.Lease, error) {
	var l nodeclient.Lease
	err := c.write(ctx, "lease", m, k.node, func(ctx context.Context, p *nodeclient.Pool) error {
		var err error
		l, err = p.LeaseGet(ctx, k.node, nodeclient.LeaseOptions{VivifyTTL: ttlSeconds(c.c.cfg.LeaseTTL)})
		return err
	})
	return l, err
}

// leaseFailed counts a failed lease lookup (a node without meta commands
// cannot take leases) and loads without a lease, unless ctx ended.
func (c *Client) leaseFailed(ctx context.Context, lc *leaseCall, err error) (Item, error) {
	if errors.Is(err, nodeclient.ErrNoMeta) || errors.Is(err, protocol.ErrClientError) {
		c.c.metrics.leases.WithLabelValues("unsupported").Inc()
	} else {
		c.c.metrics.leases.WithLabelValues("error").Inc()
	}
	if ctx.Err() != nil {
		return Item{}, err
	}
	return c.plainLoad(ctx, lc)
}

// leaseAnswer acts on the lease lookup's answer l: a value (maybe stale),
// the lease won, or something to load without a lease. final is false for
// the stub of a lease another caller holds: wait and ask again.
func (c *Client) leaseAnswer(ctx context.Context, lc *leaseCall, l nodeclient.Lease, waited bool) (it Item, final bool, err error) {
	if isTombstone(l.Flags) {
		// Deleted within the hold-off: no lease can be taken on the
		// tombstone (a vivify needs a miss). The Set replaces it.
		c.c.metrics.leases.WithLabelValues("deleted").Inc()
		it, err = c.plainLoad(ctx, lc)
		return it, true, err
	}
	value, mine := lc.k.unwrap(l.Value)
	stub := isStub(l) || l.Won && !l.Stale
	if !stub && !mine { // another key's envelope: no lease to take on it
		c.c.metrics.collisions.Inc()
		it, err = c.plainLoad(ctx, lc)
		return it, true, err
	}
	item := Item{Key: lc.k.app, Value: value, Flags: l.Flags, TTL: ttlFromRead(l.TTL), CAS: l.CAS, zone: lc.m.node.Zone}
	switch {
	case l.Stale:
		c.c.metrics.leases.WithLabelValues("stale").Inc()
		if l.Won {
			c.refresh(lc)
		}
		return item, true, nil
	case l.Won:
		c.c.metrics.leases.WithLabelValues("won").Inc()
		it, err = c.winLoad(ctx, lc.v, lc.m, lc.k, lc.ttl, lc.load)
		return it, true, err
	case stub:
		return Item{}, false, nil
	case waited:
		c.c.metrics.leases.WithLabelValues("waited").Inc()
	default:
		c.c.metrics.leases.WithLabelValues("hit").Inc()
		if lc.localMissed { // only the lease zone had it: copy it, as a Get would
			c.c.readRepair(lc.v, lc.k, l.Item, lc.readAt)
		}
	}
	return item, true, nil
}

// refresh loads a stale value whose lease this caller won and stores it,
// in the background.
func (c *Client) refresh(lc *leaseCall) {
	c.c.goBG(func(bctx context.Context) {
		if val, err := c.c.origin.load(bctx, lc.load); err == nil {
			_, _ = c.Set(bctx, Item{Key: lc.k.app, Value: val, TTL: lc.ttl})
		}
	})
}

// localHit reads k from the local zone's replica for a GetOrLoad whose
// lease zone is another: a fresh value there needs no lease. missed
// reports that the replica answered without a value.
func (c *Client) localHit(ctx context.Context, v *view, k nodeKey) (it Item, found, missed bool) {
	zone := c.c.cfg.Zone
	m := v.readReplica(zone, k.node)
	if m == nil || c.c.gated(m, k.node) {
		return Item{}, false, false
	}
	var l nodeclient.Lease
	err := c.attempt(ctx, "get", m, func(ctx context.Context, p *nodeclient.Pool) error {
		var err error
		l, err = p.LeaseGet(ctx, k.node, nodeclient.LeaseOptions{})
		return err
	})
	switch {
	case err == nil && !isStub(l) && !l.Stale && !isTombstone(l.Flags):
		if value, ok := k.unwrap(l.Value); ok {
			c.c.metrics.request("get", zone, resultHit)
			return Item{Key: k.app, Value: value, Flags: l.Flags, TTL: ttlFromRead(l.TTL), CAS: l.CAS, zone: zone}, true, false
		}
		c.c.metrics.collisions.Inc()
	case err == nil || errors.Is(err, nodeclient.ErrCacheMiss):
	default:
		c.c.metrics.request("get", zone, resultError)
		return Item{}, false, false
	}
	c.c.metrics.request("get", zone, resultMiss)
	return Item{}, false, !isStub(l) && !l.Stale // a tombstone: missed
}

// winLoad runs when this caller holds the lease: copy the value from
// another zone if one has it (every other zone asked at once, the answers
// taken in read order), else load it; on a load error release the lease.
func (c *Client) winLoad(ctx context.Context, v *view, lm *member, k nodeKey, ttl time.Duration, load Loader) (Item, error) {
	it, err := c.walk(ctx, &readCall{c: c, k: k, op: "get", eager: true, skip: lm.node.Zone}, nil)
	if err == nil {
		// Replace the stub in the lease zone with the copy.
		fix := nodeclient.Item{Key: k.node, Value: k.wrap(it.Value), Flags: it.Flags, TTL: ttlSeconds(it.TTL)}
		for _, t := range v.zoneTargets(nil, lm.node.Zone, k.node) {
			_ = c.write(ctx, "set", t, k.node, func(ctx context.Context, p *nodeclient.Pool) error { return p.Set(ctx, fix) })
		}
		return it, nil
	}
	val, err := c.c.origin.load(ctx, load)
	if err != nil {
		_ = c.write(context.WithoutCancel(ctx), "delete", lm, k.node, func(ctx context.Context, p *nodeclient.Pool) error {
			return p.Delete(ctx, k.node)
		})
		return Item{}, err
	}
	item := Item{Key: k.app, Value: val, TTL: ttl}
	if err := c.storeLoaded(ctx, item); err != nil {
		c.c.cfg.Logger.Debug("zonecache: storing a loaded value", "key", k.app, "err", err)
	}
	return item, nil
}

// plainLoad is GetOrLoad without leases: a fallback read (the probe's,
// if it started), then load.
func (c *Client) plainLoad(ctx context.Context, lc *leaseCall) (Item, error) {
	var it Item
	var err error
	if lc.probe.disarm() {
		it, err = lc.probe.wait(ctx)
	} else {
		it, err = c.read(ctx, lc.k, "get", nil)
	}
	if err == nil {
		return it, nil
	}
	switch {
	case errors.Is(err, ErrUnavailable):
		return c.loadOnly(ctx, lc.k, lc.ttl, lc.load)
	case errors.Is(err, ErrCacheMiss):
		return c.loadAndSet(ctx, lc.k, lc.ttl, lc.load)
	}
	return Item{}, err
}

// loadOnly loads k for a GetOrLoad that no replica answered: the origin
// alone, within its budget. Storing would only queue repairs (or, with a
// breaker not yet open, wait another timeout).
func (c *Client) loadOnly(ctx context.Context, k nodeKey, ttl time.Duration, load Loader) (Item, error) {
	val, err := c.c.origin.load(ctx, load)
	if err != nil {
		return Item{}, fmt.Errorf("zonecache: loading %s: %w", k, err)
	}
	return Item{Key: k.app, Value: val, TTL: ttl}, nil
}

func (c *Client) loadAndSet(ctx context.Context, k nodeKey, ttl time.Duration, load Loader) (Item, error) {
	val, err := c.c.origin.load(ctx, load)
	if err != nil {
		return Item{}, fmt.Errorf("zonecache: loading %s: %w", k, err)
	}
	item := Item{Key: k.app, Value: val, TTL: ttl}
	if err := c.storeLoaded(ctx, item); err != nil {
		c.c.cfg.Logger.Debug("zonecache: storing a loaded value", "key", k.app, "err", err)
	}
	return item, nil
}

// safeLoad runs load, turning a panic into an error wrapping
// ErrLoaderPanicked so that the lease is released like after any error.
func safeLoad(ctx context.Context, load Loader) (val []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			val, err = nil, fmt.Errorf("%w: %v\n%s", ErrLoaderPanicked, r, debug.Stack())
		}
	}()
	return load(ctx)
}
