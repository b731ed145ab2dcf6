package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// Client is zonecache's smart client. It is safe for concurrent use; make
// one per process and cache cluster, and Close it when done. Every call
// runs in the nodes' online pools; Batch returns the same client working
// through the batch pools.
type Client struct {
	c     *core
	class nodeclient.Class
}

// core is what the online and batch views of a Client share.
type core struct {
	cfg Config

	view atomic.Pointer[view]
	// former holds the views replaced within Config.FormerOwnerWindow,
	// newest first (former.go); nil before the first replacement and
	// once the newest one's window ended.
	former atomic.Pointer[[]formerView]
	vmu    sync.Mutex // serialises SetTopology

	nmu   sync.Mutex
	nodes map[string]*nodeEntry

	reads flightGroup[readResult]
	loads flightGroup[Item]

	order *writeOrder // each (node, key)'s requests in issue order

	repairs    *replication.RepairQueue
	repairWake chan struct{}
	spool      *spool     // nil: repairs in memory only
	rmu        sync.Mutex // orders spool and queue adds of repairs
	rrSem      chan struct{}
	quar       *quarantine // nodes back less than ReturnQuarantine ago
	rechecks   rechecks    // repairs to run once more after they succeed
	// rrHook, if set (tests only), runs in every read repair's request
	// just before it is sent, holding its write-order ticket.
	rrHook func()

	metrics *metrics
	origin  *bulkhead              // bounds loader calls
	near    *nearCache             // nil: no near cache
	hot     *hotKeys               // nil: no hot-key detection
	faults  atomic.Pointer[faults] // nil: no rules

	bgMu   sync.Mutex
	bg     sync.WaitGroup
	closed bool
	// shut mirrors closed for the request paths, without the lock.
	shut   atomic.Bool
	ctx    context.Context // ends at Close; background work runs under it
	cancel context.CancelFunc
}

// New returns a Client for cfg. It does not connect: nodes are dialled on
// first use.
func New(cfg Config) (*Client, error) {
	full, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &core{
		nodes:      make(map[string]*nodeEntry),
		order:      newWriteOrder(),
		repairWake: make(chan struct{}, 1),
		rrSem:      make(chan struct{}, full.ReadRepairWorkers),
		quar:       newQuarantine(full.ReturnQuarantine),
	}
	c.cfg = c.chainCallbacks(full)
	c.repairs = replication.NewRepairQueue(c.cfg.Repair)
	c.reads.inline = true // reads honour their context
	c.faults.Store(newFaults(full.Faults))
	c.ctx, c.cancel = context.WithCancel(context.Background())
	v, err := c.buildView(full.Topology)
	if err != nil {
		return nil, err
	}
	c.view.Store(v)
	if full.NearCache.MaxBytes > 0 {
		if c.near, err = newNearCache(full.NearCache); err != nil {
			c.releaseNow()
			return nil, err
		}
	}
	if c.metrics, err = newMetrics(c, full.Registerer); err != nil {
		c.releaseNow()
		return nil, err
	}
	c.origin = newBulkhead(c.cfg, c.metrics)
	if full.HotKeys.Enabled || (c.near != nil && full.NearCache.HotOnly) {
		c.hot = newHotKeys(full.HotKeys, c.metrics)
	}
	if err := c.startSpool(); err != nil {
		c.metrics.unregister()
		c.releaseNow()
		return nil, err
	}
	c.goBG(c.repairLoop)
	return &Client{c: c, class: nodeclient.Online}, nil
}

// Batch returns a Client that shares this one's nodes, rings, repairs and
// metrics but sends every request through the nodes' batch pools: for
// bulk loads, warmers and backfills that must not slow online traffic.
// On a host where client and nodes share few cores, also give the batch
// pool a rate limit (Config.Node.Batch.RateLimit): separate
// connections cannot keep bulk work from taking the CPU. Closing either
// view closes the client.
func (c *Client) Batch() *Client { return &Client{c: c.c, class: nodeclient.Batch} }

// SetTopology replaces the fleet the client uses. New rings are built and
// swapped in at once; requests already running finish on the old view.
// Nodes are reused by address across views; a node that no view uses any
// more is closed after Config.NodeGrace. A topology whose epoch is lower
// than the current one is refused as stale (equal epochs are accepted).
func (c *Client) SetTopology(t replication.Topology) error {
	cc := c.c
	cc.vmu.Lock()
	defer cc.vmu.Unlock()
	if cc.isClosed() {
		return ErrClosed
	}
	old := cc.view.Load()
	if old != nil && t.Epoch < old.topo.Epoch {
		return fmt.Errorf("%w: topology epoch %d is older than %d", ErrInvalidConfig, t.Epoch, old.topo.Epoch)
	}
	v, err := cc.buildView(t)
	if err != nil {
		return err
	}
	cc.view.Store(v)
	if old != nil {
		cc.rememberFormer(old, time.Now())
		cc.releaseView(old)
		cc.expediteRepairs(old, v)
	}
	cc.metrics.topologySwaps.Inc()
	cc.cfg.Logger.Debug("zonecache: topology replaced", "epoch", t.Epoch, "nodes", len(t.Nodes))
	return nil
}

// Topology returns the topology in use.
func (c *Client) Topology() replication.Topology { return c.c.view.Load().topo }

// Close stops the client: calls after it fail with ErrClosed. It first
// gives pending repairs Config.CloseTimeout to run (all made due at once),
// then stops background work (read repairs, the repair queue) and closes
// every node. If repairs are left it returns an error wrapping
// ErrRepairsPending with their count: with Config.RepairSpoolDir they stay
// in the spool for the next client started on it, without they are lost.
func (c *Client) Close() error {
	cc := c.c
	cc.bgMu.Lock()
	if cc.closed {
		cc.bgMu.Unlock()
		return nil
	}
	cc.closed = true
	cc.shut.Store(true)
	cc.bgMu.Unlock()
	cc.drainRepairs()
	cc.cancel()
	cc.bg.Wait()
	left := c.PendingRepairs()
	spooled := 0
	if cc.spool != nil {
		spooled = cc.spool.close()
	}
	cc.metrics.unregister()
	cc.releaseNow()
	if cc.near != nil {
		cc.near.cache.StopAllGoroutines()
	}
	switch {
	case left == 0 && spooled == 0:
		return nil
	case cc.spool == nil:
		return fmt.Errorf("%w: %d repairs abandoned (no RepairSpoolDir)", ErrRepairsPending, left)
	}
	return fmt.Errorf("%w: %d repairs not run, %d left in the spool %s", ErrRepairsPending, left, spooled, cc.cfg.RepairSpoolDir)
}

func (cc *core) releaseNow() {
	cc.nmu.Lock()
	defer cc.nmu.Unlock()
	for addr, e := range cc.nodes {
		_ = e.tn.Close()
		delete(cc.nodes, addr)
	}
}

func (cc *core) isClosed() bool {
	cc.bgMu.Lock()
	defer cc.bgMu.Unlock()
	return cc.closed
}

// goBG runs fn in the background under the client's context, unless the
// client is closed. Close waits for it.
func (cc *core) goBG(fn func(ctx context.Context)) bool {
	cc.bgMu.Lock()
	defer cc.bgMu.Unlock()
	if cc.closed {
		return false
	}
	cc.bg.Add(1)
	go func() {
		defer cc.bg.Done()
		fn(cc.ctx)
	}()
	return true
}

// attempt runs one request against one node: fault injection first, then
// the request in the client's pool class, then hooks and metrics.
func (c *Client) attempt(ctx context.Context, op string, m *member, fn func(context.Context, *nodeclient.Pool) error) error {
	return c.c.attempt(ctx, c.class, op, m, fn)
}

func (cc *core) attempt(ctx context.Context, class nodeclient.Class, op string, m *member, fn func(context.Context, *nodeclient.Pool) error) error {
	return cc.ordered(ctx, class, op, m, nil, fn)
}

// write is attempt for a request that changes key on m: it takes its place
// in the key's write order on m now, and is sent after the requests issued
// before it there (see writeOrder).
func (c *Client) write(ctx context.Context, op string, m *member, key string, fn func(context.Context, *nodeclient.Pool) error) error {
	return c.c.write(ctx, c.class, op, m, key, fn)
}

func (cc *core) write(ctx context.Context, class nodeclient.Class, op string, m *member, key string, fn func(context.Context, *nodeclient.Pool) error) error {
	var t ticket
	cc.order.register(&t, m.tn, key)
	return cc.ordered(ctx, class, op, m, &t, fn)
}

// ordered is attempt for the request of ticket t (nil: a request that
// changes nothing): it waits for the requests before it in its write order
// (within ctx and the pool's timeout; one that cannot wait fails like a
// timeout and is not sent) and finishes t when done.
func (cc *core) ordered(ctx context.Context, class nodeclient.Class, op string, m *member, t *ticket, fn func(context.Context, *nodeclient.Pool) error) error {
	start := time.Now()
	p := m.tn.Pool(class)
	var err error
	rctx := ctx
	if t != nil {
		// The near cache drops the key before and after the write: a
		// read racing it cannot keep the old value.
		cc.near.invalidate(t.k.key)
		defer cc.near.invalidate(t.k.key)
		if err = t.wait(ctx, p.Timeout()); err != nil {
			err = fmt.Errorf("zonecache: %s: %w", m.node.Addr, err)
		} else {
			t.Context, rctx = ctx, t
		}
	}
	if err == nil {
		err = cc.faults.Load().apply(rctx, op, m.node, p.Timeout())
		if err == nil {
			err = fn(rctx, p)
		}
		if t != nil {
			t.release()
		}
	}
	if h := cc.cfg.Hooks.OnAttempt; h != nil {
		e := AttemptEvent{Op: op, Zone: m.node.Zone, Node: m.node.ID, Addr: m.node.Addr, Class: class.String(), Err: err, Duration: time.Since(start)}
		if t != nil {
			e.Key = t.k.key
		}
		h(ctx, e)
	}
	return err
}

// attemptMulti is attempt for a multi-get of keys on one node; its hook
// event also says how many keys the node returned.
func (cc *core) attemptMulti(ctx context.Context, class nodeclient.Class, m *member, keys []string) (map[string]nodeclient.Item, error) {
	start := time.Now()
	var hits map[string]nodeclient.Item
	p := m.tn.Pool(class)
	err := cc.faults.Load().apply(ctx, "get_multi", m.node, p.Timeout())
	if err == nil {
		hits, err = p.GetMulti(ctx, keys)
	}
	if h := cc.cfg.Hooks.OnAttempt; h != nil {
		h(ctx, AttemptEvent{Op: "get_multi", Zone: m.node.Zone, Node: m.node.ID, Addr: m.node.Addr, Class: class.String(), Err: err,
			Duration: time.Since(start), Keys: len(keys), Hits: len(hits)})
	}
	return hits, err
}
