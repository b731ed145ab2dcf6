package transport

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
func (p *Pool) ownRead(ctx context.Context, cn *conn, c *call, sentAt int64, deadline time.Time) (bool, error) {
	rd := earlier(ctx, deadline)
	_ = cn.nc.SetReadDeadline(rd)
	if c.interruptible() {
		cn.setReader(c)
		cn.poisonIfEnded(ctx)
	}
	for {
		if _, err := cn.br.Peek(1); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !cn.isClosed() {
				if ctxErr(ctx) != nil {
					cn.handBack(c)
					return p.abandonCtx(ctx, cn, c, sentAt)
				}
				if !time.Now().Before(deadline) {
					cn.clearReader(c)
					done, err := p.abandonStalled(ctx, cn, c, sentAt)
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
		h, err := cn.readReply()
		if err != nil {
			return true, p.readFailed(ctx, cn, c, h, err)
		}
		if h == c {
			cn.handBack(c)
			return true, p.result(c.err)
		}
		p.complete(h, h.err)
		if ctx.Err() != nil {
			cn.handBack(c)
			return p.abandonCtx(ctx, cn, c, sentAt)
		}
	}
}

// readFailed closes cn after its reader, the caller of c, failed to read
// the reply of h (nil if none was pending) with err, and returns c's
// outcome: the context's error if its end cut the reply off.
func (p *Pool) readFailed(ctx context.Context, cn *conn, c, h *call, err error) error {
	cn.clearReader(c)
	cause := err
	interrupted := errors.Is(err, os.ErrDeadlineExceeded) && ctxErr(ctx) != nil
	if interrupted {
		cause = ioCause(ctx, "read", err)
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
		return p.interrupted(ctx)
	}
	return p.result(werr)
}

// handBack ends the own read of c's caller: the read token goes to readLoop
// or the next sender.
func (cn *conn) handBack(c *call) {
	cn.clearReader(c)
	cn.releaseRead()
}
