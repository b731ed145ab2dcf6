package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// The read token: who reads a connection's replies. Exactly one goroutine
// holds it while replies are pending, and this file is the whole protocol.
//
//   - A sender takes it in conn.send (takeRead) when no one holds it: the
//     connection was idle, so the caller reads the replies itself
//     (ownedRead), its own last, with no goroutine hand-off.
//   - A caller that stops reading before its reply (its context ended, or
//     its pool deadline passed with the node silent) passes it on with
//     releaseRead: to readLoop while replies are still pending, else to
//     the next sender.
//   - readLoop reads for callers that wait on their done channel, and gives
//     the token back when nothing is pending.
//
// While a caller reads, its call is recorded as the connection's reader,
// so that the end of its context moves the socket's read deadline into the
// past (interrupt.go) without disturbing a later reader.

// takeRead gives the read token to the caller of send if no one holds it,
// and reports whether it did. Called with mu held.
func (cn *conn) takeRead() bool {
	if cn.reading {
		return false
	}
	cn.reading = true
	return true
}

// releaseRead gives up the read token: to readLoop when replies are still
// pending, else to whoever sends next.
func (cn *conn) releaseRead() {
	cn.mu.Lock()
	if cn.closed || cn.qhead == len(cn.queue) {
		cn.reading = false
		cn.mu.Unlock()
		return
	}
	cn.mu.Unlock()
	select {
	case cn.readWake <- struct{}{}:
	default:
	}
}

// readLoop reads replies for callers that wait on their done channel. It
// runs while it holds the read token and gives the token back when nothing
// is pending, so that the next caller on an idle connection reads its own
// reply without a goroutine hand-off.
func (cn *conn) readLoop() {
	for {
		select {
		case <-cn.dead:
			return
		case <-cn.readWake:
		}
		// A caller reading its own reply may have left its deadline; this
		// goroutine reads without one (waiting callers time out by timer).
		_ = cn.nc.SetReadDeadline(time.Time{})
		if !cn.readPending() {
			return
		}
	}
}

// readPending is one turn of readLoop: it reads replies until none is
// pending (true: the token is given back) or the connection fails (false).
func (cn *conn) readPending() bool {
	for {
		cn.mu.Lock()
		if cn.closed {
			cn.mu.Unlock()
			return false
		}
		if cn.qhead == len(cn.queue) {
			cn.reading = false
			cn.mu.Unlock()
			return true
		}
		cn.mu.Unlock()
		if _, err := cn.peek(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !cn.isClosed() {
				// Defensive: a deadline left by a caller's own read.
				_ = cn.nc.SetReadDeadline(time.Time{})
				continue
			}
			cn.fail(fmt.Errorf("read: %w", err))
			return false
		}
		c, err := cn.readReply()
		if err != nil {
			cn.fail(err)
			if c != nil {
				cn.pool.complete(c, fmt.Errorf("%w: %w", ErrConnClosed, err))
			}
			return false
		}
		cn.pool.complete(c, c.err)
	}
}

// ownedRead is the read of a caller that holds the connection's read
// token: it reads the replies queued before its own (handing each to its
// caller) and then its own, before the earlier of the pool deadline and
// its context's. When its context ends while it waits for data, it passes
// the token on and gives its call up (the reply is discarded when it
// arrives). When its context ends in the middle of a reply, it closes the
// connection (out of step).
type ownedRead struct {
	p        *Pool
	cn       *conn
	c        *call
	ctx      context.Context
	at       stamps
	deadline time.Time // the pool deadline of c
	rd       time.Time // the read deadline: deadline or the context's, if earlier
}

// run reads until c's reply is in, c is given up or the connection fails.
// With done the caller owns c again; otherwise the connection does.
func (r *ownedRead) run() (done bool, err error) {
	r.rd = earlier(r.ctx, r.deadline)
	_ = r.cn.nc.SetReadDeadline(r.rd)
	if r.c.interruptible() {
		r.cn.setReader(r.c)
		r.cn.poisonIfEnded(r.ctx)
	}
	for {
		now, err := r.cn.peek()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !r.cn.isClosed() {
				if over, done, err := r.timedOut(); over {
					return done, err
				}
				continue
			}
			return true, r.connFailed(err)
		}
		h, err := r.next(now)
		if err != nil {
			return true, r.readFailed(h, err)
		}
		if h == r.c {
			r.handBack()
			return true, r.p.result(r.c.err)
		}
		r.p.complete(h, h.err)
		if r.ctx.Err() != nil {
			r.handBack()
			return r.p.abandonCtx(r.ctx, r.cn, r.c, r.at)
		}
	}
}

// timedOut handles a read deadline that passed while the reader waited for
// data: its context ended (the token goes on, c is given up), the pool
// deadline passed (c is given up, the connection judged stalled or kept),
// or else the deadline was one left by an earlier reader (set again).
func (r *ownedRead) timedOut() (over, done bool, err error) {
	if ctxErr(r.ctx) != nil {
		r.handBack()
		done, err = r.p.abandonCtx(r.ctx, r.cn, r.c, r.at)
		return true, done, err
	}
	if !time.Now().Before(r.deadline) {
		r.cn.clearReader(r.c)
		done, err = r.p.abandonStalled(r.ctx, r.cn, r.c, r.at)
		r.cn.releaseRead()
		return true, done, err
	}
	r.setDeadline(r.rd) // defensive: a deadline left by an earlier reader
	return false, false, nil
}

// next reads the oldest pending reply, whose first bytes arrived at now,
// and returns its call.
func (r *ownedRead) next(now time.Time) (*call, error) {
	ext := r.extend(now)
	h, err := r.cn.readReply()
	if err == nil && ext { // back to the caller's own deadline for the next reply
		r.setDeadline(r.rd)
	}
	return h, err
}

// extend gives a reply that has begun to arrive a full timeout to complete
// (bounded by the caller's context) when less than half of one is left of
// the read deadline: a deadline shortened by the time the request waited in
// the client must not cut a reply in the middle, which would close a
// healthy connection. It reports whether it moved the deadline.
func (r *ownedRead) extend(now time.Time) bool {
	timeout := r.p.cfg.Timeout
	if r.rd.Sub(now) >= timeout/2 {
		return false // the usual case: plenty left, no deadline to move
	}
	ext := earlier(r.ctx, now.Add(timeout))
	if !ext.After(r.rd) {
		return false
	}
	r.setDeadline(ext)
	return true
}

// setDeadline sets the socket's read deadline to d, or into the past if
// the reader's interruptible context has already ended.
func (r *ownedRead) setDeadline(d time.Time) {
	_ = r.cn.nc.SetReadDeadline(d)
	if r.c.interruptible() {
		r.cn.poisonIfEnded(r.ctx)
	}
}

// connFailed closes the connection after waiting for data failed with err,
// and returns c's outcome (fail completed it: it was still queued).
func (r *ownedRead) connFailed(err error) error {
	r.cn.clearReader(r.c)
	r.cn.fail(fmt.Errorf("read: %w", err))
	<-r.c.done
	return r.p.result(r.c.err)
}

// readFailed closes the connection after the reader failed to read the
// reply of h (nil if none was pending) with err, and returns c's outcome:
// the context's error if its end cut the reply off.
func (r *ownedRead) readFailed(h *call, err error) error {
	cn, c := r.cn, r.c
	cn.clearReader(c)
	at := r.at
	at.written = c.written.Load()
	cause := err
	interrupted := errors.Is(err, os.ErrDeadlineExceeded) && ctxErr(r.ctx) != nil
	switch {
	case interrupted:
		cause = ioCause(r.ctx, "read", err)
	case errors.Is(err, os.ErrDeadlineExceeded) && unread(cn.nc):
		// The reply was arriving; the client did not read it in time.
		cause = fmt.Errorf("%w: read: %w", errClientSlow, err)
	}
	cn.fail(cause)
	werr := fmt.Errorf("%w: %w", ErrConnClosed, cause)
	if h != c {
		if h != nil {
			r.p.complete(h, werr)
		}
		<-c.done // still queued, so fail completed it
		werr = c.err
	}
	if interrupted {
		return r.p.interrupted(r.ctx, cn, at)
	}
	return r.p.result(werr)
}

// handBack ends the read: the read token goes to readLoop or the next
// sender.
func (r *ownedRead) handBack() {
	r.cn.clearReader(r.c)
	r.cn.releaseRead()
}

// setReader records the call whose caller reads the socket.
func (cn *conn) setReader(c *call) {
	cn.rmu.Lock()
	cn.reader = c
	cn.rmu.Unlock()
}

// clearReader undoes setReader for an interruptible c, before its caller
// lets go of the read token.
func (cn *conn) clearReader(c *call) {
	if c.interruptible() {
		cn.setReader(nil)
	}
}

// poisonIfEnded moves the read deadline into the past if ctx has ended:
// called after the reader's deadline was set and its call recorded, it
// catches an end that the interrupt missed (it ran before) or undid.
func (cn *conn) poisonIfEnded(ctx context.Context) {
	if ctx.Err() != nil {
		_ = cn.nc.SetReadDeadline(pastDeadline())
	}
}
