package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Class names a Node's pools.
type Class int

// Pool classes.
const (
	// Online is for latency-critical requests.
	Online Class = iota
	// Batch is for bulk work; it never shares connections or in-flight
	// budget with Online.
	Batch
)

// String returns "online" or "batch".
func (c Class) String() string {
	if c == Batch {
		return "batch"
	}
	return "online"
}

// Pool is one class of traffic to one node: its own connections, in-flight
// limit, timeout and optional rate limit. All operations are methods of Pool;
// they are safe for concurrent use.
type Pool struct {
	node    *Node
	class   Class
	cfg     PoolConfig
	slots   []slot
	next    atomic.Uint32
	sem     chan struct{} // online: in-flight slots
	gate    *gate         // batch: in-flight slots, yielding to online
	limiter *limiter
	chunk   int // GetMulti keys per request under the rate limit; 0: any
	calls   sync.Pool
}

// slot holds one of the pool's connections, dialled on demand.
type slot struct {
	dialing chan struct{} // capacity 1: held while (re)connecting
	cur     atomic.Pointer[conn]
}

func newPool(n *Node, class Class, cfg PoolConfig) *Pool {
	p := &Pool{
		node:  n,
		class: class,
		cfg:   cfg,
		slots: make([]slot, cfg.Conns),
	}
	if class == Batch {
		p.gate = newGate(cfg.MaxInFlight, n.cfg.Yield, &n.activity, &n.stats.batchYields)
	} else {
		p.sem = make(chan struct{}, cfg.MaxInFlight)
	}
	for i := range p.slots {
		p.slots[i].dialing = make(chan struct{}, 1)
	}
	if cfg.RateLimit > 0 {
		p.limiter = newLimiter(cfg.RateLimit, cfg.RateBurst)
		p.chunk = rateChunk(cfg.RateLimit, cfg.RateBurst, cfg.Timeout)
	}
	p.calls.New = func() any { return newCall() }
	return p
}

// Class returns the pool's class.
func (p *Pool) Class() Class { return p.class }

// Timeout returns the pool's request timeout, its defaults applied.
func (p *Pool) Timeout() time.Duration { return p.cfg.Timeout }

func (p *Pool) getCall() *call {
	c := p.calls.Get().(*call)
	c.reset()
	return c
}

func (p *Pool) putCall(c *call) {
	c.val, c.keys, c.value, c.err, c.fence = nil, nil, nil, nil, nil
	p.calls.Put(c)
}

// complete hands a finished call to its caller, or recycles it when the
// caller has gone (releasing the caller's Fence: the request is finished).
func (p *Pool) complete(c *call, err error) {
	c.err = err
	if c.state.CompareAndSwap(callPending, callDone) {
		c.done <- struct{}{}
		return
	}
	f := c.fence
	p.putCall(c)
	if f != nil {
		f.Release()
	}
}

// abandon hands c to its connection because its caller gives up on it, and
// reports false if the reply won the race (the caller still owns c). The
// Fence of ctx, if any, is held until the connection finishes c.
func (p *Pool) abandon(ctx context.Context, c *call) bool {
	c.fence = holdFence(ctx)
	if c.state.CompareAndSwap(callPending, callAbandoned) {
		return true // c is the connection's now: not touched again
	}
	if c.fence != nil {
		c.fence.Release()
		c.fence = nil
	}
	return false
}

// do runs one call: breaker, rate limit, in-flight slot, connection, reply.
// With done the caller owns c again and must putCall it; otherwise the
// connection owns c (the caller abandoned it).
func (p *Pool) do(ctx context.Context, c *call, tokens int) (done bool, err error) {
	through, err := p.node.breaker.allow(ctx)
	if err != nil {
		return true, err
	}
	if through {
		defer func() { p.node.breaker.sentWhileOpen(done, err) }()
	}
	if err := ctx.Err(); err != nil {
		return true, p.ctxError(err)
	}
	if p.gate == nil {
		p.node.activity.begin()
		defer p.node.activity.end()
	}
	c.timer.Reset(p.cfg.Timeout)
	begun := time.Now()
	start, err := p.admit(ctx, c, tokens)
	if err != nil {
		return true, err
	}
	defer p.release(start)
	cn, own, buf, err := p.enqueue(ctx, c, begun)
	if err != nil {
		c.timer.Stop()
		return true, err
	}
	at := stamps{begun: begun.UnixNano(), sent: c.sentAt} // read c only while this goroutine owns it
	return p.await(ctx, cn, c, at, begun.Add(p.cfg.Timeout), own, buf)
}

// admit waits for the call's rate-limit tokens and an in-flight slot,
// within ctx and the pool timeout (c's timer), and returns the slot's
// start for release.
func (p *Pool) admit(ctx context.Context, c *call, tokens int) (start int64, err error) {
	if p.limiter != nil {
		if err := p.limiter.wait(ctx, tokens, c.timer.C); err != nil {
			c.timer.Stop()
			return 0, p.waitError(err)
		}
	}
	start, err = p.acquire(ctx, c.timer.C)
	if err != nil && !errors.Is(err, ErrTimeout) {
		c.timer.Stop()
	}
	return start, err
}

// enqueue queues c on a live connection (a second one if the first was
// found dead) and returns it with send's answers: whether this caller
// reads the replies (own) and what it must write (buf).
func (p *Pool) enqueue(ctx context.Context, c *call, begun time.Time) (cn *conn, own bool, buf []byte, err error) {
	deadline := begun.Add(p.cfg.Timeout)
	for attempt := 0; ; attempt++ {
		cn, err = p.conn(ctx, c.timer.C, begun)
		if err == nil {
			err = p.unsent(ctx, deadline)
		}
		if err != nil {
			return nil, false, nil, err
		}
		if cn.text && c.needsMeta() {
			return nil, false, nil, fmt.Errorf("nodeclient: %s: %w (text-protocol node)", p.node.addr, ErrNoMeta)
		}
		own, buf, err = cn.send(c)
		if err == nil {
			p.node.stats.sent.Add(1)
			return cn, own, buf, nil
		}
		if attempt == 1 { // two dead connections in a row: give up
			p.node.breaker.failure(false)
			return nil, false, nil, fmt.Errorf("nodeclient: %s: %w", p.node.addr, ErrConnClosed)
		}
	}
}

// await returns the outcome of c, queued on cn, by the pool deadline: this
// caller writes its request (buf) and reads the replies (own,
// readtoken.go) itself when the connection left that to it, else the
// reader goroutine hands it the reply.
func (p *Pool) await(ctx context.Context, cn *conn, c *call, at stamps, deadline time.Time, own bool, buf []byte) (bool, error) {
	if own || buf != nil {
		// This caller does socket I/O itself: its context's end must
		// interrupt it (interrupt.go).
		c.watch(ctx, cn)
	}
	if buf != nil {
		// The write gets a full timeout of its own: a deadline shortened by
		// the time the request waited in the client would fail a healthy
		// connection.
		wd := earlier(ctx, time.Unix(0, at.sent).Add(p.cfg.Timeout))
		if err := cn.flush(ctx, c, buf, wd, c.interruptible()); err != nil && ctxErr(ctx) != nil {
			// The context cut the write short; the connection is closed
			// and fail completed c.
			c.timer.Stop()
			c.endInterrupt()
			<-c.done
			at.written = c.written.Load()
			return true, p.interrupted(ctx, cn, at)
		}
	}
	if own {
		c.timer.Stop()
		r := ownedRead{p: p, cn: cn, c: c, ctx: ctx, at: at, deadline: deadline}
		done, err := r.run()
		if done {
			c.endInterrupt()
		}
		return done, err
	}
	c.endInterrupt()
	return p.wait(ctx, cn, c, at)
}

// wait waits for the reader goroutine to complete c, for ctx to end or for
// the pool timeout (c's timer), whichever comes first.
func (p *Pool) wait(ctx context.Context, cn *conn, c *call, at stamps) (bool, error) {
	select {
	case <-c.done:
		c.timer.Stop()
		return true, p.result(c.err)
	case <-ctx.Done():
		c.timer.Stop()
		return p.abandonCtx(ctx, cn, c, at)
	case <-c.timer.C:
		return p.abandonStalled(ctx, cn, c, at)
	}
}

// acquire takes one of the pool's in-flight slots: from the batch gate, or
// from the online semaphore, and returns when (unix nanos; batch only). It fails with the context's error, or with
// ErrTimeout when deadline fires first.
func (p *Pool) acquire(ctx context.Context, deadline <-chan time.Time) (start int64, err error) {
	if p.gate != nil {
		start, err := p.gate.acquire(ctx, deadline)
		if err != nil {
			if errors.Is(err, ErrTimeout) {
				return 0, p.waitError(err)
			}
			return 0, p.ctxError(err)
		}
		return start, nil
	}
	select {
	case p.sem <- struct{}{}:
		return 0, nil
	default:
	}
	select {
	case p.sem <- struct{}{}:
		return 0, nil
	case <-ctx.Done():
		return 0, p.ctxError(ctx.Err())
	case <-deadline:
		return 0, p.waitError(ErrTimeout)
	}
}

// release frees the slot acquire took at start.
func (p *Pool) release(start int64) {
	if p.gate != nil {
		p.gate.release(start)
		return
	}
	<-p.sem
}

// abandonCtx gives up on c because its context ended. If the reply won the
// race, it is returned instead. A missed deadline counts against the node
// (softly) only when the node owes it (conn.owes).
func (p *Pool) abandonCtx(ctx context.Context, cn *conn, c *call, at stamps) (bool, error) {
	c.endInterrupt()
	at.written = c.written.Load() // c is ours until abandon's CompareAndSwap
	if !p.abandon(ctx, c) {
		<-c.done
		return true, p.result(c.err)
	}
	// From here on the connection owns c; it may still be delivered and
	// answered on this connection, and the Fence learns when.
	err := ctxErr(ctx)
	if cn.stalled(p.cfg.Timeout) {
		// Abandoned requests pile up on a connection that answers nothing:
		// close it rather than let the queue grow.
		cn.fail(fmt.Errorf("stalled: no reply for %v: %w", p.cfg.Timeout, ErrTimeout))
		p.node.breaker.failure(true)
	} else {
		if errors.Is(err, context.DeadlineExceeded) && cn.owes(at, time.Now().UnixNano()) {
			p.node.breaker.failure(false)
		}
		p.watchKept(cn)
	}
	return false, fmt.Errorf("nodeclient: %s: %w", p.node.addr, err)
}

// abandonStalled gives up on c because it outlived the pool timeout. When
// the node owes the timeout (conn.owes: nothing arrived since c was sent,
// and c was not mostly queued in the client) or the connection is stalled,
// the connection is reset (so c is never delivered later) and the breaker
// opens at once. Otherwise the connection is kept, and c's late reply is
// read and dropped like that of a cancelled request (its Fence, if any,
// learns when): the node is answering, the client was busy.
func (p *Pool) abandonStalled(ctx context.Context, cn *conn, c *call, at stamps) (bool, error) {
	c.endInterrupt()
	at.written = c.written.Load() // c is ours until abandon's CompareAndSwap
	if !p.abandon(ctx, c) {
		<-c.done
		return true, p.result(c.err)
	}
	p.node.stats.timeouts.Add(1)
	if cn.owes(at, time.Now().UnixNano()) || cn.stalled(p.cfg.Timeout) {
		cn.fail(fmt.Errorf("stalled: a request waited %v: %w", p.cfg.Timeout, ErrTimeout))
		p.node.breaker.failure(true)
	} else {
		p.watchKept(cn)
	}
	return false, fmt.Errorf("nodeclient: %s: %w after %v", p.node.addr, ErrTimeout, p.cfg.Timeout)
}

// result feeds the breaker with the outcome of a completed call.
func (p *Pool) result(err error) error {
	if err != nil && errors.Is(err, ErrConnClosed) {
		if !errors.Is(err, ErrCircuitOpen) && !errors.Is(err, ErrClosed) && !errors.Is(err, errInterrupted) && !errors.Is(err, errClientSlow) {
			p.node.breaker.failure(false)
		}
		return fmt.Errorf("nodeclient: %s: %w", p.node.addr, err)
	}
	p.node.breaker.success()
	return err
}

// interrupted is the outcome of a call whose context ended while its caller
// wrote or read the connection: a missed deadline the node owes (conn.owes)
// is a soft failure of the node, a cancellation is the caller's choice and
// does not count.
func (p *Pool) interrupted(ctx context.Context, cn *conn, at stamps) error {
	err := ctxErr(ctx)
	if errors.Is(err, context.DeadlineExceeded) && cn.owes(at, time.Now().UnixNano()) {
		p.node.breaker.failure(false)
	}
	return p.ctxError(err)
}

func (p *Pool) ctxError(err error) error {
	return fmt.Errorf("nodeclient: %s: %w", p.node.addr, err)
}

// waitError wraps a failure to get a rate-limit token, an in-flight slot
// or a connection in time. It does not count against the node: the pool is
// busy, not the node. A timeout is ErrQueueTimeout.
func (p *Pool) waitError(err error) error {
	if errors.Is(err, ErrTimeout) {
		p.node.stats.queueTimeouts.Add(1)
		return fmt.Errorf("nodeclient: %s: %w (%s pool)", p.node.addr, ErrQueueTimeout, p.class)
	}
	return fmt.Errorf("nodeclient: %s: %w", p.node.addr, err)
}

// conn returns a live connection, dialling one if its slot is empty. begun
// is when the request started waiting, so that a dial cut short by the
// caller's deadline counts against the node only if the dial, not the
// client, took most of the time.
func (p *Pool) conn(ctx context.Context, deadline <-chan time.Time, begun time.Time) (*conn, error) {
	s := &p.slots[p.next.Add(1)%uint32(len(p.slots))]
	if cn := s.cur.Load(); cn != nil && !cn.isClosed() {
		return cn, nil
	}
	select {
	case s.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, p.ctxError(ctx.Err())
	case <-deadline:
		return nil, p.waitError(ErrTimeout)
	}
	defer func() { <-s.dialing }()
	if cn := s.cur.Load(); cn != nil && !cn.isClosed() {
		return cn, nil // another caller dialled while we waited
	}
	return p.redial(ctx, s, begun)
}

// redial fills slot s, held by this caller, with a new connection.
func (p *Pool) redial(ctx context.Context, s *slot, begun time.Time) (*conn, error) {
	if err := p.node.breaker.allowDial(ctx); err != nil {
		return nil, err
	}
	if p.node.isClosed() {
		return nil, ErrClosed
	}
	dialed := time.Now()
	l, err := p.node.dial(ctx)
	if err != nil {
		p.dialFailed(ctx, err, begun, dialed)
		return nil, err
	}
	cn := newConn(p, l)
	s.cur.Store(cn)
	if p.node.isClosed() { // lost a race with Node.Close
		cn.fail(ErrClosed)
		return nil, ErrClosed
	}
	return cn, nil
}

// dialFailed feeds the breaker with a failed dial that started at dialed
// for a request that began at begun: a hard failure unless the client was
// slow or the caller's context ended; a missed caller's deadline counts
// softly only if the dial, not the client, took most of the time.
func (p *Pool) dialFailed(ctx context.Context, err error, begun, dialed time.Time) {
	if ctx.Err() == nil {
		if !errors.Is(err, errClientSlow) {
			p.node.breaker.dialFailure(true)
		}
	} else if errors.Is(ctx.Err(), context.DeadlineExceeded) && time.Since(dialed) >= dialed.Sub(begun) {
		p.node.breaker.dialFailure(false)
	}
}

// closeConns fails every connection of the pool with cause.
func (p *Pool) closeConns(cause error) {
	for i := range p.slots {
		if cn := p.slots[i].cur.Load(); cn != nil {
			cn.fail(cause)
		}
	}
}

// InFlight returns how many of the pool's in-flight slots are taken, for
// metrics and tests.
func (p *Pool) InFlight() int {
	if p.gate != nil {
		return p.gate.taken()
	}
	return len(p.sem)
}

// Waiting returns how many callers of a batch pool wait at its gate for an
// in-flight slot (0 for an online pool), for metrics and tests.
func (p *Pool) Waiting() int {
	if p.gate != nil {
		return p.gate.waiting()
	}
	return 0
}
