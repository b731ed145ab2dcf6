package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// ownRead is the read path of a caller that holds the connection's read
// token: it reads the replies queued before its own (handing each to its
// caller) and then its own, with no goroutine hand-off, before the earlier
// of the pool deadline and its context's. When its context ends while it
// waits for data, it passes the token to readLoop and returns, and its reply
// is discarded when it arrives. When its context ends in the middle of a
// reply, it closes the connection (out of step) and returns.
func (p *Pool) ownRead(ctx context.Context, cn *conn, c *call, at stamps, deadline time.Time) (bool, error) {
	rd := earlier(ctx, deadline)
	_ = cn.nc.SetReadDeadline(rd)
	if c.interruptible() {
		cn.setReader(c)
		cn.poisonIfEnded(ctx)
	}
	for {
		now, err := cn.peek()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !cn.isClosed() {
				if ctxErr(ctx) != nil {
					cn.handBack(c)
					return p.abandonCtx(ctx, cn, c, at)
				}
				if !time.Now().Before(deadline) {
					cn.clearReader(c)
					done, err := p.abandonStalled(ctx, cn, c, at)
					cn.releaseRead()
					return done, err
				}
				// Defensive: a deadline left by an earlier reader.
				_ = cn.nc.SetReadDeadline(rd)
				if c.interruptible() {
					cn.poisonIfEnded(ctx)
				}
				continue
			}
			cn.clearReader(c)
			cn.fail(fmt.Errorf("read: %w", err))
			<-c.done // still queued, so fail completed it
			return true, p.result(c.err)
		}
		ext := p.extendRead(ctx, cn, c, rd, now)
		h, err := cn.readReply()
		if err != nil {
			return true, p.readFailed(ctx, cn, c, h, at, err)
		}
		if ext { // back to the caller's own deadline for the next reply
			_ = cn.nc.SetReadDeadline(rd)
			if c.interruptible() {
				cn.poisonIfEnded(ctx)
			}
		}
		if h == c {
			cn.handBack(c)
			return true, p.result(c.err)
		}
		p.complete(h, h.err)
		if ctx.Err() != nil {
			cn.handBack(c)
			return p.abandonCtx(ctx, cn, c, at)
		}
	}
}

// readFailed closes cn after its reader, the caller of c, failed to read
// the reply of h (nil if none was pending) with err, and returns c's
// outcome: the context's error if its end cut the reply off.
func (p *Pool) readFailed(ctx context.Context, cn *conn, c, h *call, at stamps, err error) error {
	cn.clearReader(c)
	at.written = c.written.Load()
	cause := err
	interrupted := errors.Is(err, os.ErrDeadlineExceeded) && ctxErr(ctx) != nil
	switch {
	case interrupted:
		cause = ioCause(ctx, "read", err)
	case errors.Is(err, os.ErrDeadlineExceeded) && unread(cn.nc):
		// The reply was arriving; the client did not read it in time.
		cause = fmt.Errorf("%w: read: %w", errClientSlow, err)
	}
	cn.fail(cause)
	werr := fmt.Errorf("%w: %w", ErrConnClosed, cause)
	if h != c {
		if h != nil {
			p.complete(h, werr)
		}
		<-c.done // still queued, so fail completed it
		werr = c.err
	}
	if interrupted {
		return p.interrupted(ctx, cn, at)
	}
	return p.result(werr)
}

// extendRead gives a reply that has begun to arrive a full timeout to
// complete (bounded by the caller's context) when less than half of one
// is left of rd, the caller's read deadline: a deadline shortened by the
// time the request waited in the client must not cut a reply in the
// middle, which would close a healthy connection. It reports whether it
// moved the deadline.
func (p *Pool) extendRead(ctx context.Context, cn *conn, c *call, rd, now time.Time) bool {
	if rd.Sub(now) >= p.cfg.Timeout/2 {
		return false // the usual case: plenty left, no deadline to move
	}
	ext := earlier(ctx, now.Add(p.cfg.Timeout))
	if !ext.After(rd) {
		return false
	}
	_ = cn.nc.SetReadDeadline(ext)
	if c.interruptible() {
		cn.poisonIfEnded(ctx)
	}
	return true
}

// handBack ends the own read of c's caller: the read token goes to readLoop
// or the next sender.
func (cn *conn) handBack(c *call) {
	cn.clearReader(c)
	cn.releaseRead()
}
