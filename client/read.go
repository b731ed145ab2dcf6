package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/nodeclient"
)

// readResult is what a lookup found, shared by singleflight waiters.
type readResult struct {
	item  Item
	found bool
}

// Get reads key: from the request scope if the context carries one and
// has seen the key, else from the local zone's replica, then the other
// zones in read order on an error, a timeout, an open breaker and (unless
// DisableFallbackOnMiss) a miss, within the context's deadline.
// Concurrent Gets of one key in this process share one lookup.
//
// It returns ErrCacheMiss when every zone that answered missed, and an
// error wrapping ErrUnavailable (and the last node error) when no zone
// could answer. A value found in another zone after a local miss is
// written back to the local replica in the background (read repair).
// The returned Item's Value may be shared with other callers of the same
// lookup: do not modify it.
func (c *Client) Get(ctx context.Context, key string) (Item, error) {
	start := time.Now()
	it, err := c.get(ctx, key)
	c.doneRead(ctx, "get", key, start, it, err)
	return it, err
}

func (c *Client) get(ctx context.Context, key string) (Item, error) {
	k, err := c.c.mapKey(key)
	if err != nil {
		return Item{}, err
	}
	lookup := func() (Item, bool, error) {
		r, _, err := c.c.reads.do(ctx, c.flightKey('g', k.node), func(fctx context.Context) (readResult, error) {
			it, err := c.read(fctx, k, "get", nil)
			if errors.Is(err, ErrCacheMiss) {
				return readResult{}, nil
			}
			return readResult{item: it, found: err == nil}, err
		})
		return r.item, r.found, err
	}
	var it Item
	var found bool
	if s := scopeFrom(ctx); s != nil {
		it, found, err = s.fetch(ctx, c.c, key, lookup)
	} else {
		it, found, err = lookup()
	}
	if err != nil {
		return Item{}, err
	}
	if !found {
		return Item{}, ErrCacheMiss
	}
	return it, nil
}

// GetAndTouch reads key like Get (without the scope and the shared
// lookup: a lease stub reads as a miss, errors and misses fall back to the
// next zone) and sets its TTL to ttl, where 0 (or less) means "never
// expire" as in memcached: on the replica it was read from in the same
// request (one round trip on a hit), then on every other replica in the
// background, as EVCache does. A lease stub (a loader is running under a
// lease) keeps its short lifetime, so that a lease whose loader died still
// expires: a node touches whatever it holds, so a replica that answered
// with a stub is given the stub's remaining TTL back at once by a second
// request (see untouchStub), and is not touched again; the background
// touches do the same for stubs they find. The returned Item's TTL is the
// new one.
func (c *Client) GetAndTouch(ctx context.Context, key string, ttl time.Duration) (Item, error) {
	start := time.Now()
	it, err := c.getAndTouch(ctx, key, ttl)
	c.doneRead(ctx, "gat", key, start, it, err)
	return it, err
}

func (c *Client) getAndTouch(ctx context.Context, key string, ttl time.Duration) (Item, error) {
	k, err := c.c.mapKey(key)
	if err != nil {
		return Item{}, err
	}
	tr := readTrace{ttl: ttlSeconds(ttl)}
	it, err := c.read(ctx, k, "gat", &tr)
	if err != nil {
		return Item{}, err
	}
	c.touchOthers(k, tr.ttl, tr.skip)
	it.TTL = max(ttl, 0)
	if s := scopeFrom(ctx); s != nil {
		s.remember(c.c, key, it, true)
	}
	return it, nil
}

// untouchStub gives a lease stub that GetAndTouch's read touched its
// lifetime back (mg T applies to stubs too): stub.TTL is its remaining TTL
// from before the touch. If the lease holder's value replaced the stub
// between the two requests (the CAS differs), that value had its TTL
// shortened to the stub's, and gets its own back. Errors are dropped: the
// stub then lives until the touch's TTL, or until the lease holder stores
// its value or a waiter that gave up on the lease stores its own.
//
// The lifetime given back is at most leaseTTL: a concurrent GetAndTouch may
// have touched the stub first, so what this one read as its remaining TTL
// can be that call's TTL (never expiring, for 0), not the stub's own.
func untouchStub(ctx context.Context, p *nodeclient.Pool, key string, stub nodeclient.Lease, leaseTTL time.Duration) {
	life := ttlFromRead(stub.TTL)
	if life <= 0 || life > leaseTTL {
		life = leaseTTL
	}
	prev, err := p.SwapTTL(ctx, key, ttlSeconds(life))
	if err != nil || prev.CAS == stub.CAS {
		return
	}
	_ = p.Touch(ctx, key, ttlSeconds(ttlFromRead(prev.TTL)))
}

func (c *Client) flightKey(op byte, nodeKey string) string {
	return string([]byte{op, byte('0' + c.class)}) + nodeKey
}

// readTrace makes a read touch the replicas it reads (GetAndTouch) and
// records which of them not to touch again.
type readTrace struct {
	// ttl is the TTL the read sets (seconds, 0 = never expires).
	ttl int32
	// skip are the IDs of the replicas not to touch again: the one read
	// from and those that answered with a stub.
	skip []string
}

// isStub reports whether a lease-aware read returned an empty lease stub:
// a key whose value a loader is fetching under a lease. It reads as a miss.
func isStub(l nodeclient.Lease) bool {
	return l.WinSent && !l.Stale && l.Size == 0
}

// readCall is one read walking the zones in read order.
type readCall struct {
	c      *Client
	k      nodeKey
	op     string
	v      *view
	readAt time.Time // before the local read: bounds a read repair's age
	local  bool      // the read order starts with the client's zone
	// answered: some zone answered (a miss); localMissed: the first did.
	answered, localMissed bool
	lastErr               error
}

// read walks the zones in read order. A non-nil tr (GetAndTouch) makes each
// read a get-and-touch, is filled in, and turns read repair off: the
// value's TTL changes.
func (c *Client) read(ctx context.Context, k nodeKey, op string, tr *readTrace) (Item, error) {
	r := readCall{c: c, k: k, op: op, readAt: time.Now(), v: c.c.view.Load()}
	if c.c.shut.Load() {
		return Item{}, ErrClosed
	}
	r.local = len(r.v.order) > 0 && r.v.order[0] == c.c.cfg.Zone
	for i, zone := range r.v.order {
		if err := ctx.Err(); err != nil {
			if r.lastErr == nil {
				r.lastErr = err
			}
			break
		}
		if it, final, err := r.zone(ctx, i, zone, tr); final {
			return it, err
		}
	}
	if r.answered {
		return Item{}, ErrCacheMiss
	}
	if r.lastErr == nil {
		return Item{}, fmt.Errorf("%w: no replica of key %s", ErrUnavailable, k)
	}
	return Item{}, fmt.Errorf("%w: %w", ErrUnavailable, r.lastErr)
}

// zone reads from the replica of zone, the i-th of the read order (see
// read for tr); final reports an answer that ends the walk: a hit, a miss
// under DisableFallbackOnMiss, or an error every zone would give.
func (r *readCall) zone(ctx context.Context, i int, zone string, tr *readTrace) (it Item, final bool, err error) {
	m := r.v.readReplica(zone, r.k.node)
	if m == nil {
		return Item{}, false, nil
	}
	if r.c.c.gated(m, r.k.node) {
		// A repair of the key is pending there: its copy may be older
		// than a write this client had acknowledged. A miss, and on to
		// the next zone whatever DisableFallbackOnMiss.
		r.missed(i)
		return Item{}, false, nil
	}
	ti, err := r.c.readFrom(ctx, r.op, m, r.k, tr)
	if err == nil {
		if value, ok := r.k.unwrap(ti.Value); ok {
			return r.hit(i, zone, m, ti, value, tr), true, nil
		}
		r.c.c.metrics.collisions.Inc()
		err = nodeclient.ErrCacheMiss
	}
	if errors.Is(err, nodeclient.ErrCacheMiss) {
		r.c.c.metrics.request(r.op, zone, resultMiss)
		r.missed(i)
		return Item{}, r.c.c.cfg.DisableFallbackOnMiss, ErrCacheMiss
	}
	r.c.c.metrics.request(r.op, zone, resultError)
	if fatalErr(err) {
		return Item{}, true, err
	}
	r.lastErr = err
	return Item{}, false, nil
}

// missed records a miss in the i-th zone of the read order.
func (r *readCall) missed(i int) {
	r.answered = true
	r.localMissed = r.localMissed || i == 0
}

// hit records a hit on m in the i-th zone of the read order and returns
// its item, read-repairing the local zone when it missed there (not for a
// touch: tr is not nil, the value's TTL changes).
func (r *readCall) hit(i int, zone string, m *member, ti nodeclient.Item, value []byte, tr *readTrace) Item {
	result := resultHit
	if i > 0 {
		result = resultFallbackHit
	}
	r.c.c.metrics.request(r.op, zone, result)
	if i > 0 && r.local && r.localMissed && tr == nil {
		r.c.c.readRepair(r.v, r.k, ti, r.readAt)
	}
	if tr != nil {
		tr.skip = append(tr.skip, m.node.ID)
	}
	return Item{Key: r.k.app, Value: value, Flags: ti.Flags, TTL: ttlFromRead(ti.TTL), CAS: ti.CAS, zone: zone}
}

// readFrom reads k from m, touching it when tr is not nil. A tombstone or
// a lease stub is a miss (and, for a touch, has its lifetime given back).
func (c *Client) readFrom(ctx context.Context, op string, m *member, k nodeKey, tr *readTrace) (nodeclient.Item, error) {
	var ti nodeclient.Item
	err := c.readAttempt(ctx, op, m, k.node, tr != nil, func(ctx context.Context, p *nodeclient.Pool) error {
		var l nodeclient.Lease
		var err error
		if tr == nil {
			l, err = p.LeaseGet(ctx, k.node, nodeclient.LeaseOptions{})
		} else {
			l, err = p.GetAndTouch(ctx, k.node, tr.ttl)
		}
		if err == nil && isTombstone(l.Flags) {
			if tr != nil { // its hold-off untouched
				c.c.untouchTombstone(ctx, p, k.node, l)
				tr.skip = append(tr.skip, m.node.ID)
			}
			return nodeclient.ErrCacheMiss
		}
		if err == nil && isStub(l) {
			if tr != nil {
				untouchStub(ctx, p, k.node, l, c.c.cfg.LeaseTTL)
				tr.skip = append(tr.skip, m.node.ID)
			}
			return nodeclient.ErrCacheMiss
		}
		ti = l.Item
		return err
	})
	return ti, err
}

// readAttempt is attempt for a read, or, when touches (GetAndTouch), write
// for a read that also sets the key's TTL on m.
func (c *Client) readAttempt(ctx context.Context, op string, m *member, key string, touches bool, fn func(context.Context, *nodeclient.Pool) error) error {
	if touches {
		return c.write(ctx, op, m, key, fn)
	}
	return c.attempt(ctx, op, m, fn)
}

// fatalErr reports errors that another zone would answer the same way.
// A closed transport is not one: it belongs to a node that left the
// topology while the request ran on an older view, so the next zone is
// asked.
func fatalErr(err error) bool {
	return errors.Is(err, protocol.ErrValueTooLarge) || errors.Is(err, protocol.ErrKeyTooLong) ||
		errors.Is(err, protocol.ErrKeyBadChar) || errors.Is(err, protocol.ErrKeyEmpty) || errors.Is(err, ErrClosed)
}

// readRepair writes an item found in another zone to the local replica,
// with Add (never over a newer value, nor over a delete's tombstone) and
// the item's remaining TTL, through the batch pool, in the background. It
// drops the repair when ReadRepairWorkers are busy, and (with
// DeleteHoldOff) when it cannot be sent within DeleteHoldOff of readAt,
// the time the read began: a delete acknowledged after the local replica
// missed left a tombstone there that lives longer, so the Add fails on it.
func (cc *core) readRepair(v *view, k nodeKey, ti nodeclient.Item, readAt time.Time) {
	if cc.cfg.DisableReadRepair || ti.TTL == 0 {
		return
	}
	ttl := ti.TTL
	if ttl < 0 {
		ttl = 0
	}
	select {
	case cc.rrSem <- struct{}{}:
	default:
		cc.metrics.readRepairs.WithLabelValues("dropped").Inc()
		return
	}
	item := nodeclient.Item{Key: k.node, Value: ti.Value, Flags: ti.Flags, TTL: ttl}
	targets := v.zoneTargets(nil, cc.cfg.Zone, k.node)
	tickets := cc.order.registerAll(targets, k.node)
	ok := cc.goBG(func(ctx context.Context) {
		defer func() { <-cc.rrSem }()
		if cc.holdOff() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, readAt.Add(cc.cfg.DeleteHoldOff))
			defer cancel()
		}
		for i, m := range targets {
			err := cc.ordered(ctx, nodeclient.Batch, "read_repair", m, &tickets[i], func(ctx context.Context, p *nodeclient.Pool) error {
				if cc.rrHook != nil {
					cc.rrHook()
				}
				if cc.holdOff() && time.Since(readAt) >= cc.cfg.DeleteHoldOff {
					return errReadRepairExpired
				}
				return p.Add(ctx, item)
			})
			cc.metrics.readRepairs.WithLabelValues(readRepairResult(ctx, err)).Inc()
		}
	})
	if !ok {
		dropAll(tickets)
		<-cc.rrSem
	}
}

// readRepairResult is the result label of a read repair that ended with
// err under ctx.
func readRepairResult(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, nodeclient.ErrNotStored):
		return "not_stored"
	case errors.Is(err, errReadRepairExpired) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "expired"
	}
	return "error"
}

// done records a client call's latency and fires OnRequest with result
// ok, miss or error.
func (c *Client) done(ctx context.Context, op, key string, start time.Time, err error) {
	c.finish(ctx, op, key, start, resultOK, err)
}

// doneRead is done for a call that returns one item: a success is a hit
// when the item came from the local zone, a fallback_hit when it came from
// another zone, and ok when it was not read from the cache (a GetOrLoad
// that loaded it).
func (c *Client) doneRead(ctx context.Context, op, key string, start time.Time, it Item, err error) {
	result := resultOK
	switch {
	case err != nil:
	case it.zone == c.c.cfg.Zone:
		result = resultHit
	case it.zone != "":
		result = resultFallbackHit
	}
	c.finish(ctx, op, key, start, result, err)
}

func (c *Client) finish(ctx context.Context, op, key string, start time.Time, result string, err error) {
	d := time.Since(start)
	c.c.metrics.duration.WithLabelValues(op).Observe(d.Seconds())
	if h := c.c.cfg.Hooks.OnRequest; h != nil {
		switch {
		case errors.Is(err, ErrCacheMiss):
			result = resultMiss
		case err != nil:
			result = resultError
		}
		h(ctx, RequestEvent{Op: op, Key: key, Result: result, Err: err, Duration: d})
	}
}
