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
// caller) and then its own, with no goroutine hand-off. Its context can
// interrupt it only while it waits for data; it then passes the token to
// readLoop and returns, and its reply is discarded when it arrives.
func (p *Pool) ownRead(ctx context.Context, cn *conn, c *call, sentAt int64, deadline time.Time) (bool, error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, cn.interrupt)
		defer stop()
	}
	rd := deadline
	if d, ok := ctx.Deadline(); ok && d.Before(rd) {
		rd = d
	}
	setDeadline := true
	for {
		if setDeadline {
			_ = cn.nc.SetReadDeadline(rd)
			setDeadline = false
		}
		cn.setWaiting(true)
		_, err := cn.br.Peek(1)
		interrupted := cn.setWaiting(false)
		if err != nil {
			setDeadline = true
			if errors.Is(err, os.ErrDeadlineExceeded) && !cn.isClosed() {
				if ctx.Err() != nil {
					cn.releaseRead()
					return p.abandonCtx(ctx, cn, c, sentAt)
				}
				if !time.Now().Before(deadline) {
					done, err := p.abandonStalled(cn, c, sentAt)
					cn.releaseRead()
					return done, err
				}
				continue // an interrupt meant for an earlier reader
			}
			cn.fail(fmt.Errorf("read: %w", err))
			<-c.done // still queued, so fail completed it
			return true, p.result(c.err)
		}
		// Data is here: read the whole reply under the pool deadline only,
		// undoing an interrupt that raced with the wake-up.
		if interrupted || !rd.Equal(deadline) {
			_ = cn.nc.SetReadDeadline(deadline)
			setDeadline = true
		}
		h, err := cn.readReply()
		if err != nil {
			cn.fail(err)
			werr := fmt.Errorf("%w: %w", ErrConnClosed, err)
			if h == c {
				return true, p.result(werr)
			}
			if h != nil {
				p.complete(h, werr)
			}
			<-c.done
			return true, p.result(c.err)
		}
		if h == c {
			cn.releaseRead()
			return true, p.result(c.err)
		}
		p.complete(h, h.err)
		if ctx.Err() != nil {
			cn.releaseRead()
			return p.abandonCtx(ctx, cn, c, sentAt)
		}
	}
}
