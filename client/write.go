package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// WriteResult reports a replicated write.
type WriteResult struct {
	// Policy is the write policy the call was held to.
	Policy replication.WritePolicy
	// Replicas is how many replicas the write was sent to (write-only
	// ones included).
	Replicas int
	// Succeeded is how many replicas had applied it (or answered with an
	// outcome such as not-found) when the call returned.
	Succeeded int
	// Failed lists the replicas known to have failed when the call
	// returned. Replicas still running finish in the background; their
	// failures are queued for repair, not reported here.
	Failed []replication.ReplicaResult
}

// replicaDone is one replica's answer to a write.
type replicaDone struct {
	m   *member
	err error
}

// writeOp describes one fanned-out write.
type writeOp struct {
	op string
	k  nodeKey
	// repair is what to queue for a replica that failed, unless noRepair.
	repair   replication.RepairKind
	noRepair bool
	// deadline is when the key expires (zero: unknown or never).
	deadline time.Time
	// fill marks GetOrLoad's store of a value it loaded: the caller has
	// its value, so the call waits for one replica's answer (policy one:
	// the local one, written first), not for frozen ones.
	fill bool
	// fn applies the write to one replica.
	fn func(ctx context.Context, p *nodeclient.Pool, m *member) error
}

// fanOut sends w to targets in parallel and returns once the write policy
// is decided or ctx ends, with the answers seen by then; the rest complete
// in the background.
func (c *Client) fanOut(ctx context.Context, w writeOp, targets []*member) (res WriteResult, answers []replicaDone, err error) {
	res = WriteResult{Policy: c.c.cfg.WritePolicy, Replicas: len(targets)}
	if w.fill {
		res.Policy = replication.One
	}
	if c.c.shut.Load() {
		return res, nil, ErrClosed
	}
	if len(targets) == 0 {
		return res, nil, fmt.Errorf("%w: no replica takes writes of key %s", ErrUnavailable, w.k)
	}
	var formerDone <-chan struct{}
	if !w.fill {
		formerDone = c.deleteAtFormerOwners(ctx, w.k, targets)
	}
	out := replication.NewOutcome(res.Policy, nodesOf(targets))
	ch := make(chan replicaDone, len(targets))
	open := c.sendAll(ctx, w, targets, ch)
	answers, err = awaitPolicy(ctx, out, ch, len(targets), open...)
	res.Succeeded, res.Failed = count(answers), out.Failed()
	if formerDone != nil {
		select {
		case <-formerDone:
		case <-ctx.Done():
		}
	}
	return res, answers, err
}

// sendAll starts w on every target; each answer goes to ch. The first
// (local) target is written on the caller's goroutine, one hand-off less
// on the path that usually decides the policy, unless its breaker is open;
// the others, and all under policy none, run detached from ctx and may
// complete after the call. A write that leaves a repair is sent through
// open breakers: skipped, it would leave the older value on a node that
// other clients, whose breakers are closed, still read. The caller does
// not wait for those: sendAll returns them as failed (ErrCircuitOpen) and
// their answers do not reach ch, so that a node down costs a caller no
// timeout while its breaker is open.
func (c *Client) sendAll(ctx context.Context, w writeOp, targets []*member, ch chan<- replicaDone) (open []replicaDone) {
	// Every replica's request takes its place in the key's write order
	// here, in issue order, before any of them runs on its own goroutine.
	tickets := c.c.order.registerAll(targets, w.k.node)
	if !w.noRepair {
		ctx = nodeclient.ThroughOpenBreaker(ctx)
	}
	wctx := context.WithoutCancel(ctx)
	var unheard chan replicaDone // answers no caller waits for
	inline := 1
	if c.c.cfg.WritePolicy == replication.None || targets[0].tn.State() == nodeclient.StateOpen {
		inline = 0
	}
	for i := inline; i < len(targets); i++ {
		dst := ch
		if targets[i].tn.State() == nodeclient.StateOpen {
			if unheard == nil {
				unheard = make(chan replicaDone, len(targets))
			}
			dst = unheard
			open = append(open, replicaDone{targets[i], ErrCircuitOpen})
		}
		go c.writeDetached(wctx, w, targets[i], &tickets[i], dst, 0)
	}
	if inline == 1 {
		c.writeInline(ctx, w, targets[0], &tickets[0], ch)
	}
	return open
}

// earlierWaitTimeouts is how many pool timeouts in all a replica write in
// the background waits for the key's earlier request to its node before it
// is given up (and repaired); other requests wait one. The earlier request
// is unanswered on a live connection (a slow node), and is finished at the
// latest when its reply arrives or the stalled connection is reset; giving
// the write up would leave the node the older value.
const earlierWaitTimeouts = 5

// writeInline is writeOne on the caller's goroutine. Should the key's
// earlier request to m still be unanswered after the pool timeout, the
// write goes on in the background rather than being given up.
func (c *Client) writeInline(ctx context.Context, w writeOp, m *member, t *ticket, ch chan<- replicaDone) {
	timeout := m.tn.Pool(c.class).Timeout()
	if !awaitEarlier(ctx, t, timeout) && ctx.Err() == nil {
		go c.writeDetached(context.WithoutCancel(ctx), w, m, t, ch, timeout)
		return
	}
	c.writeOne(ctx, w, m, t, ch, false)
}

// writeDetached is writeOne in the background: having waited waited for
// the key's earlier request to m, it waits up to earlierWaitTimeouts pool
// timeouts in all (the last one in ordered).
func (c *Client) writeDetached(ctx context.Context, w writeOp, m *member, t *ticket, ch chan<- replicaDone, waited time.Duration) {
	timeout := m.tn.Pool(c.class).Timeout()
	awaitEarlier(ctx, t, (earlierWaitTimeouts-1)*timeout-waited)
	c.writeOne(ctx, w, m, t, ch, true)
}

// awaitEarlier waits up to d for the request before t in its write order,
// if any, to finish, and reports whether it has. It leaves t in its place
// (ordered waits again, and gives t up if its predecessor is still busy).
func awaitEarlier(ctx context.Context, t *ticket, d time.Duration) bool {
	p := t.prev
	if p == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-ctx.Done():
	case <-timer.C:
	}
	return false
}

// writeOne applies w to m in its write-order place t, counts the result
// and queues a repair when m failed (not for a write the protocol refused
// before it was sent). In the background (no caller waits on it), a write
// that timed out in the client queue, never sent, is tried once more in
// its place: the node may only have been slow to connect to.
func (c *Client) writeOne(ctx context.Context, w writeOp, m *member, t *ticket, ch chan<- replicaDone, background bool) {
	err := c.c.ordered(ctx, c.class, w.op, m, t, func(ctx context.Context, p *nodeclient.Pool) error {
		err := w.fn(ctx, p, m)
		if background && errors.Is(err, nodeclient.ErrQueueTimeout) {
			err = w.fn(ctx, p, m)
		}
		return err
	})
	switch {
	case outcome(err):
		c.c.metrics.request(w.op, m.node.Zone, resultOK)
	case fatalErr(err):
		c.c.metrics.request(w.op, m.node.Zone, resultError)
	default:
		c.c.metrics.request(w.op, m.node.Zone, resultError)
		if !w.noRepair {
			c.c.queueRepair(m, w.k.node, repairKindFor(w.repair, err), w.deadline)
		}
	}
	ch <- replicaDone{m, err}
}

// awaitPolicy adds the known answers, then those from ch, to out until n
// are in or the policy is decided or ctx ends, then takes those already
// in (a decided outcome cannot change).
func awaitPolicy(ctx context.Context, out *replication.Outcome, ch <-chan replicaDone, n int, known ...replicaDone) ([]replicaDone, error) {
	var answers []replicaDone
	add := func(d replicaDone) {
		answers = append(answers, d)
		if outcome(d.err) {
			out.Add(d.m.node, nil)
		} else {
			out.Add(d.m.node, d.err)
		}
	}
	for _, d := range known {
		add(d)
	}
	for len(answers) < n && !out.Decided() {
		select {
		case d := <-ch:
			add(d)
		case <-ctx.Done():
			return answers, fmt.Errorf("%w: %w", replication.ErrPolicyNotMet, ctx.Err())
		}
	}
	for len(answers) < n {
		select {
		case d := <-ch:
			add(d)
		default:
			return answers, out.Err()
		}
	}
	return answers, out.Err()
}

// nodesOf returns the nodes of members.
func nodesOf(members []*member) []replication.Node {
	nodes := make([]replication.Node, len(members))
	for i, m := range members {
		nodes[i] = m.node
	}
	return nodes
}

func count(answers []replicaDone) int {
	n := 0
	for _, a := range answers {
		if outcome(a.err) {
			n++
		}
	}
	return n
}

// queueRepair queues (and, with a spool, persists) the repair of a
// replica that failed a write.
func (cc *core) queueRepair(m *member, key string, kind replication.RepairKind, deadline time.Time) {
	cc.addRepair(replication.Repair{NodeID: m.node.ID, Addr: m.node.Addr, Key: key, Kind: kind, Deadline: deadline}, time.Now())
}

// store is the common path of Set, Replace, Append and Prepend.
func (c *Client) store(ctx context.Context, op string, item Item, mode nodeclient.StoreMode) (WriteResult, error) {
	ctx, start := c.begin(ctx, op, item.Key)
	res, err := c.storeNoDone(ctx, op, item, mode)
	c.done(ctx, op, item.Key, start, err)
	return res, err
}

func (c *Client) storeNoDone(ctx context.Context, op string, item Item, mode nodeclient.StoreMode) (WriteResult, error) {
	return c.storeOp(ctx, op, item, mode, false)
}

// storeLoaded stores a value GetOrLoad loaded, waiting for one replica
// only: a frozen one must not hold up a caller who has its value.
func (c *Client) storeLoaded(ctx context.Context, item Item) error {
	_, err := c.storeOp(ctx, "set", item, nodeclient.ModeSet, true)
	return err
}

func (c *Client) storeOp(ctx context.Context, op string, item Item, mode nodeclient.StoreMode, fill bool) (WriteResult, error) {
	k, err := c.c.mapKey(item.Key)
	if err != nil {
		return WriteResult{}, err
	}
	if k.hashed && (mode == nodeclient.ModeAppend || mode == nodeclient.ModePrepend) {
		return WriteResult{}, ErrKeyHashed
	}
	if mode == nodeclient.ModeSet || mode == nodeclient.ModeReplace {
		if err := checkFlags(item); err != nil {
			return WriteResult{}, err
		}
	}
	ti := nodeclient.Item{Key: k.node, Value: k.wrap(item.Value), Flags: item.Flags, TTL: ttlSeconds(item.TTL)}
	w := writeOp{op: op, k: k, repair: replication.RepairInvalidate, fill: fill, fn: func(ctx context.Context, p *nodeclient.Pool, _ *member) error {
		if mode != nodeclient.ModeSet {
			// A tombstone is a missing key: a deleted key must not
			// come back by Replace, Append or Prepend.
			return storeExisting(ctx, p, ti, mode)
		}
		_, err := p.Store(ctx, ti, nodeclient.StoreOptions{Mode: mode})
		return err
	}}
	// A failed write leaves an older value behind until it expires: the
	// repair deletes it there, so no deadline can be known.
	res, answers, err := c.fanOut(ctx, w, c.c.view.Load().writeTargets(k.node))
	c.updateScope(ctx, item, mode == nodeclient.ModeSet && err == nil)
	if err != nil {
		return res, err
	}
	if mode != nodeclient.ModeSet && allAnswered(answers, nodeclient.ErrNotStored) {
		return res, ErrNotStored
	}
	return res, nil
}

// allAnswered reports whether every replica that answered gave sentinel.
func allAnswered(answers []replicaDone, sentinel error) bool {
	n := 0
	for _, a := range answers {
		if a.err == nil {
			return false
		}
		if errors.Is(a.err, sentinel) {
			n++
		}
	}
	return n > 0
}

// updateScope keeps the request scope's memo true after a write.
func (c *Client) updateScope(ctx context.Context, item Item, known bool) {
	s := scopeFrom(ctx)
	if s == nil {
		return
	}
	if known {
		s.remember(c.c, item.Key, item, true)
	} else {
		s.forget(c.c, item.Key)
	}
}

// Set stores item on every zone's replica (and write-only replicas) in
// parallel and returns when the write policy is decided. A replica that
// fails gets its copy deleted by the repair queue once it answers again.
func (c *Client) Set(ctx context.Context, item Item) (WriteResult, error) {
	return c.store(ctx, "set", item, nodeclient.ModeSet)
}

// Replace stores item only on replicas that hold the key; ErrNotStored
// when no replica that answered held it. A replica without it stays
// without it: a miss there, and reads fall back.
func (c *Client) Replace(ctx context.Context, item Item) (WriteResult, error) {
	return c.store(ctx, "replace", item, nodeclient.ModeReplace)
}

// Append appends item.Value to the value on every replica that holds the
// key (ErrNotStored when none did). Not for hashed keys (ErrKeyHashed).
func (c *Client) Append(ctx context.Context, item Item) (WriteResult, error) {
	return c.store(ctx, "append", item, nodeclient.ModeAppend)
}

// Prepend is Append at the front of the value.
func (c *Client) Prepend(ctx context.Context, item Item) (WriteResult, error) {
	return c.store(ctx, "prepend", item, nodeclient.ModePrepend)
}

// Delete removes key from every replica; one without it counts as a
// success. Each replica keeps a tombstone for Config.DeleteHoldOff, so a
// read repair cannot bring the value back, and one that fails gets a
// delete repair queued.
func (c *Client) Delete(ctx context.Context, key string) (WriteResult, error) {
	k, err := c.c.mapKey(key)
	if err != nil {
		return WriteResult{}, err
	}
	ctx, start := c.begin(ctx, "delete", key)
	w := writeOp{op: "delete", k: k, repair: replication.RepairDelete, fn: func(ctx context.Context, p *nodeclient.Pool, _ *member) error {
		return c.c.deleteOn(ctx, p, k.node)
	}}
	res, _, err := c.fanOut(ctx, w, c.c.view.Load().writeTargets(k.node))
	if s := scopeFrom(ctx); s != nil {
		s.remember(c.c, key, Item{}, false)
	}
	c.done(ctx, "delete", key, start, err)
	return res, err
}

// Touch sets key's TTL on every replica. It returns ErrNotFound when no
// replica that answered held the key.
func (c *Client) Touch(ctx context.Context, key string, ttl time.Duration) (WriteResult, error) {
	k, err := c.c.mapKey(key)
	if err != nil {
		return WriteResult{}, err
	}
	ctx, start := c.begin(ctx, "touch", key)
	secs := ttlSeconds(ttl)
	// A failed touch only lets a copy expire early: a miss, never stale.
	w := writeOp{op: "touch", k: k, noRepair: true, fn: func(ctx context.Context, p *nodeclient.Pool, _ *member) error {
		return c.c.touchLive(ctx, p, k.node, secs)
	}}
	res, answers, err := c.fanOut(ctx, w, c.c.view.Load().writeTargets(k.node))
	if s := scopeFrom(ctx); s != nil {
		s.forget(c.c, key)
	}
	if err == nil && allAnswered(answers, nodeclient.ErrNotFound) {
		err = ErrNotFound
	}
	c.done(ctx, "touch", key, start, err)
	return res, err
}

// touchOthers touches every replica of k but the nodes in skip (IDs) in the
// background (after a GetAndTouch), leaving lease stubs their lifetime.
func (c *Client) touchOthers(k nodeKey, ttl int32, skip []string) {
	targets := slices.DeleteFunc(c.c.view.Load().writeTargets(k.node), func(m *member) bool {
		return slices.Contains(skip, m.node.ID)
	})
	tickets := c.c.order.registerAll(targets, k.node)
	if !c.c.goBG(func(ctx context.Context) {
		for i, m := range targets {
			_ = c.c.ordered(ctx, c.class, "touch", m, &tickets[i], func(ctx context.Context, p *nodeclient.Pool) error {
				return c.c.touchLive(ctx, p, k.node, ttl)
			})
		}
	}) {
		dropAll(tickets)
	}
}

// touchLive sets key's TTL on a replica with SwapTTL, which shows what it
// touched: a lease stub or a tombstone gets its own TTL back, and a
// tombstone answers ErrNotFound. A text-protocol node is read, then touched.
func (cc *core) touchLive(ctx context.Context, p *nodeclient.Pool, key string, ttl int32) error {
	prev, err := p.SwapTTL(ctx, key, ttl)
	switch {
	case errors.Is(err, nodeclient.ErrNoMeta):
		if isTombstoneAt(ctx, p, key) {
			return nodeclient.ErrNotFound
		}
		return p.Touch(ctx, key, ttl)
	case err == nil && isTombstone(prev.Flags):
		cc.untouchTombstone(ctx, p, key, prev)
		return nodeclient.ErrNotFound
	case err == nil && isStub(prev):
		untouchStub(ctx, p, key, prev, cc.cfg.LeaseTTL)
	}
	return err
}
