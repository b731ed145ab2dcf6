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

// Get reads key from the local zone's replica, then the other zones in
// read order (package documentation, "Reads"). ErrCacheMiss when every zone
// that answered missed, ErrUnavailable when none could answer. The Value
// may be shared with concurrent callers: do not modify it.
func (c *Client) Get(ctx context.Context, key string) (Item, error) {
	ctx, start := c.begin(ctx, "get", key)
	it, err := c.get(ctx, key)
	c.doneRead(ctx, "get", key, start, it, err)
	return it, err
}

func (c *Client) get(ctx context.Context, key string) (Item, error) {
	k, err := c.c.mapKey(key)
	if err != nil {
		return Item{}, err
	}
	c.c.hot.count(k)
	lookup := func() (Item, bool, error) { return c.lookup(ctx, k) }
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

// lookup is Get's lookup of k: the near cache, else a read shared by the
// process's concurrent Gets of k, whose value fills the near cache; with
// no replica to answer, the near cache's entry served stale.
func (c *Client) lookup(ctx context.Context, k nodeKey) (Item, bool, error) {
	var held *nearEntry
	if c.c.near != nil {
		it, ok, e := c.nearLookup(ctx, k)
		if ok {
			return it, true, nil
		}
		held = e
	}
	r, _, err := c.c.reads.do(ctx, c.flightKey('g', k.node), func(fctx context.Context) (readResult, error) {
		gen, readAt := c.c.near.gen(k.node), time.Now()
		it, err := c.read(fctx, k, "get", nil)
		if errors.Is(err, ErrCacheMiss) {
			return readResult{}, nil
		}
		if err == nil {
			c.nearFill(k, gen, readAt, it)
		}
		return readResult{item: it, found: err == nil}, err
	})
	if held != nil && errors.Is(err, ErrUnavailable) {
		return c.nearStale(held, "tier_down"), true, nil
	}
	return r.item, r.found, err
}

// GetAndTouch reads key like Get (without the scope and the shared lookup)
// and sets its TTL to ttl (0: never expire), the returned Item's: on the
// replica read, in the same request, then on the others in the background,
// as EVCache does. A lease stub keeps its short lifetime (untouchStub).
func (c *Client) GetAndTouch(ctx context.Context, key string, ttl time.Duration) (Item, error) {
	ctx, start := c.begin(ctx, "gat", key)
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
// lifetime back (at most leaseTTL: a concurrent touch may have changed it),
// so a lease whose loader died still expires. If the holder's value
// replaced the stub meanwhile (the CAS differs), that value gets its own
// TTL back. Errors are dropped: the stub then lives until the touch's TTL.
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
	eager  bool      // every zone asked at once, not after ReadHedge
	skip   string    // a zone not to ask (already asked), or ""
	// answered: some zone answered (a miss); localMissed: the first did.
	answered, localMissed bool
	lastErr               error
}

// read walks the zones in read order, asking the later ones ahead of
// their turn when a replica is slow (Config.ReadHedge). A non-nil tr
// (GetAndTouch) makes each read a get-and-touch, is filled in, and turns
// read repair and hedging off: the value's TTL changes. When every
// replica's breaker is open it fails at once.
func (c *Client) read(ctx context.Context, k nodeKey, op string, tr *readTrace) (Item, error) {
	return c.walk(ctx, &readCall{c: c, k: k, op: op}, tr)
}

// readEager is read asking every zone at once: a fallback started late
// (GetOrLoad's probe).
func (c *Client) readEager(ctx context.Context, k nodeKey) (Item, error) {
	return c.walk(ctx, &readCall{c: c, k: k, op: "get", eager: true}, nil)
}

// walk is read's walk through the zones.
func (c *Client) walk(ctx context.Context, r *readCall, tr *readTrace) (Item, error) {
	r.readAt, r.v = time.Now(), c.c.view.Load()
	k := r.k
	if c.c.shut.Load() {
		return Item{}, ErrClosed
	}
	if r.v.tierDown(k.node) {
		c.c.metrics.tierDownReads.Inc()
		return Item{}, fmt.Errorf("%w: every replica of key %s: %w", ErrUnavailable, k, ErrCircuitOpen)
	}
	r.local = len(r.v.order) > 0 && r.v.order[0] == c.c.cfg.Zone
	var pf *prefetch[fetched]
	defer func() { pf.stop() }()
	for i, zone := range r.v.order {
		if err := ctx.Err(); err != nil {
			if r.lastErr == nil {
				r.lastErr = err
			}
			break
		}
		var f fetched
		if pf != nil {
			f = <-pf.res[i]
		} else {
			pf = r.hedge(ctx, i, tr)
			f = r.fetch(ctx, zone, tr)
			pf = pf.await()
		}
		if it, final, err := r.answer(i, zone, f, tr); final {
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

// fetched is what a zone's replica answered a read.
type fetched struct {
	m     *member // nil: the zone has no replica of the key
	gated bool    // a repair of the key is pending there: not asked
	ti    nodeclient.Item
	err   error
}

// fetch asks zone's replica for the key (see read for tr).
func (r *readCall) fetch(ctx context.Context, zone string, tr *readTrace) fetched {
	m := r.v.readReplica(zone, r.k.node)
	if m == nil || zone == r.skip {
		return fetched{}
	}
	if r.c.c.gated(m, r.k.node) {
		return fetched{m: m, gated: true}
	}
	ti, err := r.c.readFrom(ctx, r.op, m, r.k, tr)
	return fetched{m: m, ti: ti, err: err}
}

// answer acts on f, the answer of the i-th zone of the read order (see
// read for tr); final reports an answer that ends the walk: a hit, a miss
// under DisableFallbackOnMiss, or an error every zone would give.
func (r *readCall) answer(i int, zone string, f fetched, tr *readTrace) (it Item, final bool, err error) {
	m, ti, err := f.m, f.ti, f.err
	if m == nil {
		return Item{}, false, nil
	}
	if f.gated {
		// A repair of the key is pending there: its copy may be older
		// than a write this client had acknowledged. A miss, and on to
		// the next zone whatever DisableFallbackOnMiss.
		r.missed(i)
		return Item{}, false, nil
	}
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

// fatalErr reports errors that another zone would answer the same way (not
// a closed node client: its node left the topology mid-request).
func fatalErr(err error) bool {
	return errors.Is(err, protocol.ErrValueTooLarge) || errors.Is(err, protocol.ErrKeyTooLong) ||
		errors.Is(err, protocol.ErrKeyBadChar) || errors.Is(err, protocol.ErrKeyEmpty) || errors.Is(err, ErrClosed)
}

// readRepair Adds an item found in another zone to the local replica with
// its remaining TTL, in the background: never over a newer value or a
// tombstone. Dropped when ReadRepairWorkers are busy or (DeleteHoldOff)
// not sent within the hold-off of readAt, when the read began.
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

// begin starts a client call: it fires OnStart, whose context the call
// goes on under, and returns the call's start time for done.
func (c *Client) begin(ctx context.Context, op, key string) (context.Context, time.Time) {
	if h := c.c.cfg.Hooks.OnStart; h != nil {
		ctx = h(ctx, op, key)
	}
	return ctx, time.Now()
}

// done records a client call's latency and fires OnRequest with result
// ok, miss or error.
func (c *Client) done(ctx context.Context, op, key string, start time.Time, err error) {
	c.finish(ctx, op, key, start, resultOK, err)
}

// doneRead is done for a call that returns one item: a hit from the local
// zone, a fallback_hit from another, ok when loaded (GetOrLoad).
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
