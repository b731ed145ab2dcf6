package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Which failures are the node's. A request's time is split in two: the
// time it waited in the client (for a rate-limit token, an in-flight slot,
// a connection) and the time since it was queued on its connection. Only
// the second can be blamed on the node, and only when the node made no
// progress on that connection: no reply bytes arrived since the request
// was sent. A request whose connection kept receiving replies was queued
// behind other requests in the pipeline: the node is busy, not dead. So an
// overloaded client, or a node that answers slowly but steadily, never
// opens the breaker; a frozen or dead node, which sends nothing, does as
// fast as before.

// errClientSlow is the cause of a connection closed, or a dial failed,
// because the client did not read a reply that had arrived in time (its
// reader was starved of CPU): it does not count against the node.
var errClientSlow = errors.New("nodeclient: the client fell behind reading replies")

// stamps are when a request began (Pool.do), was queued on its connection
// and was handed to a write (0: not yet; read from the call by its caller
// while it still owns it), in unix nanos.
type stamps struct{ begun, sent, written int64 }

// owes reports whether a request that missed its deadline at now is the
// node's fault: it was written, nothing arrived on cn since, and it spent
// at least three quarters of its wait on the wire (one that got its slot
// with little time left, or waited for a busy writer, has not given the
// node a fair chance; a connection silent for a whole timeout is judged
// by stalled).
func (cn *conn) owes(at stamps, now int64) bool {
	w := at.written
	return w != 0 && cn.lastRead.Load() < w && now-w >= 3*(w-at.begun) && cn.quiet()
}

// markWritten records that every queued call not yet handed to a write is
// in the buffer about to be written, at now. Called with mu held.
func (cn *conn) markWritten(now int64) {
	for i := max(cn.unwritten, cn.qhead); i < len(cn.queue); i++ {
		cn.queue[i].written.Store(now)
	}
	cn.unwritten = len(cn.queue)
}

// stalled reports whether the connection has a request pending and has
// received nothing for timeout while it was pending: its oldest pending
// request was written at least timeout ago, no reply bytes arrived in the
// last timeout, and none wait unread (quiet).
func (cn *conn) stalled(timeout time.Duration) bool {
	cn.mu.Lock()
	if cn.closed || cn.qhead == len(cn.queue) {
		cn.mu.Unlock()
		return false
	}
	w := cn.queue[cn.qhead].written.Load()
	cn.mu.Unlock()
	since := max(w, cn.lastRead.Load())
	return w != 0 && time.Now().UnixNano()-since >= int64(timeout) && cn.quiet()
}

// watchKept guards a connection kept after one of its requests was given
// up (the node was still answering others, so it was not blamed): the
// given-up request stays on the connection, holding its caller's Fence,
// until its reply is read. Should the node then go silent with no other
// request failing on the connection, nothing would ever close it. So,
// every pool timeout while requests are pending on it, the connection is
// checked and, once stalled, failed (reset) and the breaker opened, as a
// stall seen by a waiting caller would be. One watch runs per connection.
func (p *Pool) watchKept(cn *conn) {
	if !cn.watched.CompareAndSwap(false, true) {
		return
	}
	var check func()
	check = func() {
		if cn.stalled(p.cfg.Timeout) {
			cn.fail(fmt.Errorf("stalled: no reply for %v: %w", p.cfg.Timeout, ErrTimeout))
			p.node.breaker.failure(true)
			return
		}
		if cn.pending() > 0 {
			time.AfterFunc(p.cfg.Timeout, check)
			return
		}
		cn.watched.Store(false)
		// A request given up after pending was read found the watch still
		// running and started none.
		if cn.pending() > 0 && cn.watched.CompareAndSwap(false, true) {
			time.AfterFunc(p.cfg.Timeout, check)
		}
	}
	time.AfterFunc(p.cfg.Timeout, check)
}

// pending returns how many requests wait on cn for a reply (none once cn
// is closed).
func (cn *conn) pending() int {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed {
		return 0
	}
	return len(cn.queue) - cn.qhead
}

// unsent refuses to send a request whose time ran out while it waited in
// the client: ErrQueueTimeout (or the context's error), nothing sent, and
// nothing counted against the node.
func (p *Pool) unsent(ctx context.Context, deadline time.Time) error {
	if !time.Now().Before(deadline) {
		return p.waitError(ErrTimeout)
	}
	if err := ctxErr(ctx); err != nil {
		return p.ctxError(err)
	}
	return nil
}

// peek waits until reply bytes are buffered and records the progress
// (lastRead: when the latest reply began to arrive), returning the time.
// The reader holding the read token calls it before each reply; awaiting
// tells the blame checks whether the reader is waiting for the node
// (nothing buffered) or busy with replies the node already sent.
func (cn *conn) peek() (now time.Time, err error) {
	if cn.br.Buffered() == 0 {
		cn.awaiting.Store(true)
		if _, err := cn.br.Peek(1); err != nil {
			return time.Time{}, err // still awaiting: a deadline does not make the node answer
		}
	}
	if cn.awaiting.Load() {
		cn.awaiting.Store(false)
	}
	now = time.Now()
	cn.lastRead.Store(now.UnixNano())
	return now, nil
}

// quiet reports whether the node, not the client, is the reason no reply
// is being read: the reader waits for bytes and none are waiting in the
// socket's receive buffer. Replies the node sent but a busy client has not
// read yet are the client's delay.
func (cn *conn) quiet() bool {
	return cn.awaiting.Load() && !unread(cn.nc)
}
