package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A caller whose context ends while it writes its request or reads replies
// itself must return at once, not when the pool's timeout ends. Its call
// registers c.onCancel on the context (context.AfterFunc) for that time; the
// connection records which call is writing and which is reading, and the
// callback moves the socket's deadline into the past only for those, so a
// late callback never disturbs another caller's I/O. A write or a reply cut
// off in the middle leaves the connection out of step: it is closed, with a
// cause wrapping errInterrupted so that the callers failed with it do not
// count it against the node.

// errInterrupted is the cause of a connection closed because a caller's
// context ended in the middle of a request or a reply.
var errInterrupted = errors.New("nodeclient: a caller's context ended mid-transfer")

// pastDeadline is a deadline that wakes a blocked read or write at once.
func pastDeadline() time.Time { return time.Unix(1, 0) }

// earlier returns the earlier of the context's deadline and d.
func earlier(ctx context.Context, d time.Time) time.Time {
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// ctxErr is ctx.Err(), or context.DeadlineExceeded once the context's
// deadline has passed: a socket deadline set to it can fire a moment before
// the context's own timer.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// ioCause is the cause that closes a connection after a failed read or
// write: errInterrupted when ctx ended (and so caused the failure). The
// context's error is named but not wrapped: the other requests on the
// connection fail with this cause, and their own contexts did not end.
func ioCause(ctx context.Context, op string, err error) error {
	if cerr := ctxErr(ctx); cerr != nil {
		return fmt.Errorf("%w: %s: %v (%w)", errInterrupted, op, cerr, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// watch registers c's interrupt on ctx for the caller's own I/O on cn. It
// does nothing for a context that cannot end. endInterrupt undoes it.
func (c *call) watch(ctx context.Context, cn *conn) {
	if ctx.Done() == nil {
		return
	}
	c.cn = cn
	c.stop = context.AfterFunc(ctx, c.onCancel)
}

// interruptible reports whether c's interrupt is registered.
func (c *call) interruptible() bool { return c.stop != nil }

// endInterrupt unregisters c's interrupt and, if it already fired, waits
// for it to finish, so that it never touches c after c is recycled.
func (c *call) endInterrupt() {
	if c.stop == nil {
		return
	}
	if !c.stop() {
		<-c.fired
	}
	c.stop, c.cn = nil, nil
}

// interrupt is c's callback on its context's end (bound once per call, so
// registering it does not allocate).
func (c *call) interrupt() {
	c.cn.interrupt(c)
	c.fired <- struct{}{}
}

// interrupt poisons the deadline of the socket I/O that c's caller is in.
func (cn *conn) interrupt(c *call) {
	cn.rmu.Lock()
	if cn.writer == c {
		_ = cn.nc.SetWriteDeadline(pastDeadline())
	}
	if cn.reader == c {
		_ = cn.nc.SetReadDeadline(pastDeadline())
	}
	cn.rmu.Unlock()
}

// setWriter records the call whose caller writes the socket (nil: none).
func (cn *conn) setWriter(c *call) {
	cn.rmu.Lock()
	cn.writer = c
	cn.rmu.Unlock()
}
