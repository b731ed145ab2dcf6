package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// Add stores item only if the key is absent (ErrNotStored otherwise). One
// replica, the same for every client, decides and the others converge on
// its value; the package documentation ("Conditional operations") says
// what is not atomic.
func (c *Client) Add(ctx context.Context, item Item) (WriteResult, error) {
	ctx, start := c.begin(ctx, "add", item.Key)
	res, err := c.add(ctx, item)
	c.done(ctx, "add", item.Key, start, err)
	return res, err
}

func (c *Client) add(ctx context.Context, item Item) (WriteResult, error) {
	k, err := c.c.mapKey(item.Key)
	if err != nil {
		return WriteResult{}, err
	}
	if c.c.shut.Load() {
		return WriteResult{}, ErrClosed
	}
	if err := checkFlags(item); err != nil {
		return WriteResult{}, err
	}
	v := c.c.view.Load()
	ti := nodeclient.Item{Key: k.node, Value: k.wrap(item.Value), Flags: item.Flags, TTL: ttlSeconds(item.TTL)}
	arbiter, err := c.addAtArbiter(ctx, v, k, ti)
	if errors.Is(err, ErrNotStored) {
		return WriteResult{Policy: c.c.cfg.WritePolicy}, err
	}
	if err != nil {
		return WriteResult{}, err
	}
	w := writeOp{op: "add", k: k, repair: replication.RepairInvalidate, fn: func(ctx context.Context, p *nodeclient.Pool, m *member) error {
		if m == arbiter {
			return nil
		}
		err := p.Add(ctx, ti)
		if errors.Is(err, nodeclient.ErrNotStored) {
			err = p.Set(ctx, ti)
		}
		return err
	}}
	res, _, err := c.fanOut(ctx, w, v.writeTargets(k.node))
	c.updateScope(ctx, item, err == nil)
	return res, err
}

// addAtArbiter adds ti at the arbiter, the key's write replica in the
// first zone by name that answers, and returns it; ErrNotStored when the
// key exists there.
func (c *Client) addAtArbiter(ctx context.Context, v *view, k nodeKey, ti nodeclient.Item) (*member, error) {
	var lastErr error
	for _, z := range slices.Sorted(maps.Keys(v.zones)) {
		ts := v.zoneTargets(nil, z, k.node)
		if len(ts) == 0 {
			continue
		}
		// A tombstone at the arbiter is a missing key: this Add is a
		// new write, not a fill, so it may take the deleted key's place.
		err := c.write(ctx, "add", ts[0], k.node, func(ctx context.Context, p *nodeclient.Pool) error { return addOverTombstone(ctx, p, ti) })
		if err == nil {
			return ts[0], nil
		}
		if errors.Is(err, nodeclient.ErrNotStored) {
			return nil, ErrNotStored
		}
		if ctx.Err() != nil {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("%w: add %s: %w", ErrUnavailable, k, lastErr)
}

// CompareAndSwap stores item only if it has not changed since it was read
// (ErrCASConflict, or ErrNotFound if deleted): compared on the replica it
// was read from, then Set on the others under the write policy. See
// "Conditional operations" in the package documentation.
func (c *Client) CompareAndSwap(ctx context.Context, item Item) (WriteResult, error) {
	ctx, start := c.begin(ctx, "cas", item.Key)
	res, err := c.cas(ctx, item)
	c.done(ctx, "cas", item.Key, start, err)
	return res, err
}

func (c *Client) cas(ctx context.Context, item Item) (WriteResult, error) {
	k, err := c.c.mapKey(item.Key)
	if err != nil {
		return WriteResult{}, err
	}
	if c.c.shut.Load() {
		return WriteResult{}, ErrClosed
	}
	if err := checkFlags(item); err != nil {
		return WriteResult{}, err
	}
	v := c.c.view.Load()
	zone := item.zone
	if zone == "" {
		zone = c.c.cfg.Zone
	}
	owner := v.readReplica(zone, k.node)
	if owner == nil {
		return WriteResult{}, fmt.Errorf("%w: no replica of %s in zone %s", ErrUnavailable, k, zone)
	}
	ti := nodeclient.Item{Key: k.node, Value: k.wrap(item.Value), Flags: item.Flags, TTL: ttlSeconds(item.TTL), CAS: item.CAS}
	err = c.write(ctx, "cas", owner, k.node, func(ctx context.Context, p *nodeclient.Pool) error {
		err := p.CompareAndSwap(ctx, ti)
		if errors.Is(err, nodeclient.ErrCASConflict) && isTombstoneAt(ctx, p, k.node) {
			err = nodeclient.ErrNotFound // deleted since it was read
		}
		return err
	})
	if err != nil {
		if s := scopeFrom(ctx); s != nil {
			s.forget(c.c, item.Key)
		}
		return WriteResult{Policy: c.c.cfg.WritePolicy}, err
	}
	ti.CAS = 0
	w := writeOp{op: "cas", k: k, repair: replication.RepairInvalidate, fn: func(ctx context.Context, p *nodeclient.Pool, m *member) error {
		if m == owner {
			return nil
		}
		return p.Set(ctx, ti)
	}}
	targets := v.writeTargets(k.node)
	if !slices.Contains(targets, owner) {
		targets = append(targets, owner)
	}
	res, _, err := c.fanOut(ctx, w, targets)
	c.updateScope(ctx, item, err == nil)
	return res, err
}

// Incr adds delta to the decimal counter at key on every replica and
// returns the new value; replicas that disagree are reconciled to the
// largest in the background. ErrNotFound when no replica holds the key.
func (c *Client) Incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	return c.arith(ctx, "incr", key, delta)
}

// Decr subtracts delta (stopping at 0) like Incr; if replicas disagree the
// smallest value wins.
func (c *Client) Decr(ctx context.Context, key string, delta uint64) (uint64, error) {
	return c.arith(ctx, "decr", key, delta)
}

func (c *Client) arith(ctx context.Context, op, key string, delta uint64) (uint64, error) {
	ctx, start := c.begin(ctx, op, key)
	val, err := c.arithNoDone(ctx, op, key, delta)
	c.done(ctx, op, key, start, err)
	return val, err
}

func (c *Client) arithNoDone(ctx context.Context, op, key string, delta uint64) (uint64, error) {
	k, err := c.c.mapKey(key)
	if err != nil {
		return 0, err
	}
	if k.hashed {
		return 0, ErrKeyHashed
	}
	if s := scopeFrom(ctx); s != nil {
		s.forget(c.c, key)
	}
	if c.c.shut.Load() {
		return 0, ErrClosed
	}
	targets := c.c.view.Load().writeTargets(k.node)
	if len(targets) == 0 {
		return 0, fmt.Errorf("%w: no replica takes writes of key %s", ErrUnavailable, k)
	}
	formerDone := c.deleteAtFormerOwners(ctx, k, targets)
	answers, err := c.arithAll(ctx, op, k, delta, targets)
	if formerDone != nil {
		select {
		case <-formerDone:
		case <-ctx.Done():
		}
	}
	if err != nil {
		return 0, err
	}
	t := c.tallyArith(op, k, targets, answers)
	if t.best == nil {
		return 0, t.failure(op, k)
	}
	if laggards := t.laggards(answers); len(laggards) > 0 {
		c.reconcile(k, t.best.m, t.best.val, laggards)
	}
	return t.best.val, t.out.Err()
}

// arithAnswer is one replica's answer to an Incr or Decr.
type arithAnswer struct {
	m   *member
	val uint64
	err error
}

// arithAll applies op to every target in parallel, in the key's write
// order, and waits for all of them or ctx.
func (c *Client) arithAll(ctx context.Context, op string, k nodeKey, delta uint64, targets []*member) ([]arithAnswer, error) {
	ch := make(chan arithAnswer, len(targets))
	wctx := context.WithoutCancel(ctx)
	tickets := c.c.order.registerAll(targets, k.node)
	for i, m := range targets {
		go func(m *member, t *ticket) {
			var val uint64
			err := c.c.ordered(wctx, c.class, op, m, t, func(ctx context.Context, p *nodeclient.Pool) error {
				var err error
				val, err = arithOn(ctx, p, op, k.node, delta)
				return err
			})
			ch <- arithAnswer{m, val, err}
		}(m, &tickets[i])
	}
	answers := make([]arithAnswer, 0, len(targets))
	for len(answers) < len(targets) {
		select {
		case a := <-ch:
			answers = append(answers, a)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", replication.ErrPolicyNotMet, ctx.Err())
		}
	}
	return answers, nil
}

// arithOn applies op ("incr" or "decr") on one node. A deleted key's empty
// tombstone is not found.
func arithOn(ctx context.Context, p *nodeclient.Pool, op, key string, delta uint64) (uint64, error) {
	var val uint64
	var err error
	if op == "incr" {
		val, err = p.Incr(ctx, key, delta)
	} else {
		val, err = p.Decr(ctx, key, delta)
	}
	if errors.Is(err, protocol.ErrClientError) && isTombstoneAt(ctx, p, key) {
		err = nodeclient.ErrNotFound
	}
	return val, err
}

// arithTally is what the replicas of an Incr or Decr answered.
type arithTally struct {
	out       *replication.Outcome
	best      *arithAnswer // the winning value: largest for incr, smallest for decr
	clientErr error        // not a counter: every replica says so
	lastErr   error
	notFound  int
}

// tallyArith judges the answers under the write policy. A replica that
// failed may or may not have counted: its copy is deleted by the repair
// queue, and the next Incr or Decr restores it from the others.
func (c *Client) tallyArith(op string, k nodeKey, targets []*member, answers []arithAnswer) arithTally {
	t := arithTally{out: replication.NewOutcome(c.c.cfg.WritePolicy, nodesOf(targets))}
	for i := range answers {
		a := &answers[i]
		switch {
		case a.err == nil:
			if t.best == nil || (op == "incr" && a.val > t.best.val) || (op == "decr" && a.val < t.best.val) {
				t.best = a
			}
		case errors.Is(a.err, nodeclient.ErrNotFound):
			t.notFound++
		case errors.Is(a.err, protocol.ErrClientError):
			t.clientErr = a.err
		default:
			t.lastErr = a.err
			t.out.Add(a.m.node, a.err)
			c.c.metrics.request(op, a.m.node.Zone, resultError)
			if !fatalErr(a.err) {
				c.c.queueRepair(a.m, k.node, repairKindFor(replication.RepairInvalidate, a.err), time.Time{})
			}
			continue
		}
		t.out.Add(a.m.node, nil)
		c.c.metrics.request(op, a.m.node.Zone, resultOK)
	}
	return t
}

// failure is the error of an Incr or Decr no replica applied.
func (t arithTally) failure(op string, k nodeKey) error {
	switch {
	case t.clientErr != nil:
		return t.clientErr
	case t.notFound > 0:
		return ErrNotFound
	}
	return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, op, k, t.lastErr)
}

// laggards are the replicas whose counter is not the winning value.
func (t arithTally) laggards(answers []arithAnswer) []*member {
	var out []*member
	for _, a := range answers {
		if a.m != t.best.m && (a.err != nil || a.val != t.best.val) {
			out = append(out, a.m)
		}
	}
	return out
}

// reconcile sets val on laggards with the TTL src reports, in the
// background.
func (c *Client) reconcile(k nodeKey, src *member, val uint64, laggards []*member) {
	// The sets take their place in the key's write order now, when the
	// reconciliation is decided, not when they are sent.
	tickets := c.c.order.registerAll(laggards, k.node)
	if !c.c.goBG(func(ctx context.Context) {
		var ttl int32
		err := c.attempt(ctx, "get", src, func(ctx context.Context, p *nodeclient.Pool) error {
			it, err := p.Get(ctx, k.node)
			ttl = it.TTL
			return err
		})
		if err != nil {
			dropAll(tickets)
			return
		}
		if ttl < 0 {
			ttl = 0
		}
		ti := nodeclient.Item{Key: k.node, Value: strconv.AppendUint(nil, val, 10), TTL: ttl}
		for i, m := range laggards {
			err := c.c.ordered(ctx, c.class, "set", m, &tickets[i], func(ctx context.Context, p *nodeclient.Pool) error { return p.Set(ctx, ti) })
			if err != nil && !outcome(err) {
				c.c.queueRepair(m, k.node, repairKindFor(replication.RepairInvalidate, err), time.Time{})
			}
		}
	}) {
		dropAll(tickets)
	}
}
