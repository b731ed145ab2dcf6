package transport

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/internal/wire"
)

// errConnDead is returned by send on a connection that already failed; the
// request was not queued and may be retried on another connection.
var errConnDead = errors.New("transport: connection is dead")

const (
	readBufferSize = 64 << 10
	maxKeptBuffer  = 4 << 20
)

// conn is one pipelined connection. Callers append encoded requests to wbuf
// and the FIFO queue under mu; whoever finds no write in progress writes the
// buffer (one syscall for everything queued), handing further batches to the
// writer goroutine. The reader goroutine takes calls off the queue in order
// and reads their replies.
type conn struct {
	pool *Pool
	nc   net.Conn
	br   *bufio.Reader
	text bool // the node speaks only the text protocol

	mu       sync.Mutex
	wbuf     []byte
	spare    []byte
	queue    []*call
	qhead    int
	seq      uint32
	writing  bool
	reading  bool // the read token: held by a caller in ownRead or by readLoop
	closed   bool
	closeErr error

	lastRead atomic.Int64  // unix nanos of the last complete reply
	wake     chan struct{} // wakes writeLoop
	readWake chan struct{} // hands the read token to readLoop
	dead     chan struct{}

	// rmu guards waiting: whether a caller in ownRead is blocked waiting
	// for data, the only time its context may interrupt the read.
	rmu         sync.Mutex
	waiting     bool
	interrupted bool
}

func newConn(p *Pool, l *link) *conn {
	cn := &conn{
		pool:     p,
		nc:       l.nc,
		br:       l.br,
		text:     l.text,
		wake:     make(chan struct{}, 1),
		readWake: make(chan struct{}, 1),
		dead:     make(chan struct{}),
		seq:      1,
	}
	cn.lastRead.Store(time.Now().UnixNano())
	go cn.readLoop()
	go cn.writeLoop()
	return cn
}

func (cn *conn) isClosed() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

// send queues c and writes it (or leaves it to the write in progress). It
// reports whether the caller took the read token: then it must read the
// connection itself (Pool.ownRead) until its own reply has arrived.
func (cn *conn) send(c *call) (own bool, err error) {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return false, errConnDead
	}
	if !cn.reading {
		cn.reading = true
		own = true
	}
	c.opaque = cn.seq
	cn.seq += c.lines()
	if cn.seq == 0 || cn.seq < c.opaque { // keep opaque ranges from wrapping
		c.opaque = 1
		cn.seq = 1 + c.lines()
	}
	if cn.text {
		cn.wbuf = c.encodeText(cn.wbuf)
	} else {
		cn.wbuf = c.encode(cn.wbuf)
	}
	c.sentAt = time.Now().UnixNano()
	cn.queue = append(cn.queue, c)
	if cn.writing {
		cn.mu.Unlock()
		return own, nil
	}
	cn.writing = true
	if len(cn.queue)-cn.qhead > 1 {
		// Other requests are waiting for replies: the connection is busy, so
		// let the writer goroutine gather more requests into one write.
		cn.mu.Unlock()
		cn.wakeWriter()
		return own, nil
	}
	// An idle connection: write at once, in this goroutine, for latency.
	buf := cn.wbuf
	cn.wbuf = cn.spare[:0]
	cn.spare = nil
	cn.mu.Unlock()

	cn.pool.node.stats.writes.Add(1)
	werr := cn.write(buf)
	cn.mu.Lock()
	cn.keep(buf)
	if werr != nil || len(cn.wbuf) == 0 {
		cn.writing = false
		cn.mu.Unlock()
		return own, nil // a write error fails the connection and with it c
	}
	cn.mu.Unlock()
	// More requests arrived during the write: the writer goroutine sends
	// them, so this caller can go back to waiting for its own reply.
	cn.wakeWriter()
	return own, nil
}

func (cn *conn) wakeWriter() {
	select {
	case cn.wake <- struct{}{}:
	default:
	}
}

// keep stores a written buffer for reuse. Called with mu held.
func (cn *conn) keep(buf []byte) {
	if cap(buf) <= maxKeptBuffer {
		cn.spare = buf[:0]
	}
}

func (cn *conn) write(buf []byte) error {
	_ = cn.nc.SetWriteDeadline(time.Now().Add(cn.pool.cfg.Timeout))
	if _, err := cn.nc.Write(buf); err != nil {
		cn.fail(fmt.Errorf("write: %w", err))
		return err
	}
	return nil
}

// writeLoop flushes batches that accumulated while another write ran. It
// owns the writing flag from the moment it is woken until the buffer is
// empty.
func (cn *conn) writeLoop() {
	for {
		select {
		case <-cn.dead:
			return
		case <-cn.wake:
		}
		// Let the callers that are runnable (typically just woken by
		// replies) queue their next requests, so that one write carries
		// many of them.
		runtime.Gosched()
		for {
			cn.mu.Lock()
			if cn.closed || len(cn.wbuf) == 0 {
				cn.writing = false
				cn.mu.Unlock()
				break
			}
			buf := cn.wbuf
			cn.wbuf = cn.spare[:0]
			cn.spare = nil
			cn.mu.Unlock()
			cn.pool.node.stats.writes.Add(1)
			err := cn.write(buf)
			cn.mu.Lock()
			cn.keep(buf)
			cn.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// pop removes the oldest queued call, or returns nil.
func (cn *conn) pop() *call {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.qhead == len(cn.queue) {
		return nil
	}
	c := cn.queue[cn.qhead]
	cn.queue[cn.qhead] = nil
	cn.qhead++
	if cn.qhead == len(cn.queue) {
		cn.queue = cn.queue[:0]
		cn.qhead = 0
	}
	return c
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
		for {
			cn.mu.Lock()
			if cn.closed {
				cn.mu.Unlock()
				return
			}
			if cn.qhead == len(cn.queue) {
				cn.reading = false
				cn.mu.Unlock()
				break
			}
			cn.mu.Unlock()
			if _, err := cn.br.Peek(1); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) && !cn.isClosed() {
					// A late interrupt meant for a caller's own read.
					_ = cn.nc.SetReadDeadline(time.Time{})
					continue
				}
				cn.fail(fmt.Errorf("read: %w", err))
				return
			}
			c, err := cn.readReply()
			if err != nil {
				cn.fail(err)
				if c != nil {
					cn.pool.complete(c, fmt.Errorf("%w: %w", ErrConnClosed, err))
				}
				return
			}
			cn.pool.complete(c, c.err)
		}
	}
}

// readReply reads the reply of the oldest queued call and returns that
// call, its outcome in c.err. A non-nil error means the connection is out of
// step; the returned call (if any) is then not completed.
func (cn *conn) readReply() (*call, error) {
	c := cn.pop()
	if c == nil {
		return nil, fmt.Errorf("%w: reply with no request pending", wire.ErrMalformed)
	}
	var err error
	switch {
	case cn.text:
		err = cn.readText(c)
	case c.kind == kindMulti:
		err = cn.readMulti(c)
	default:
		err = cn.readOne(c)
	}
	cn.lastRead.Store(time.Now().UnixNano())
	return c, err
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

// interrupt is called when the context of a caller in ownRead ends: it
// wakes the caller's blocked read, but only while it waits for data, never
// in the middle of a reply.
func (cn *conn) interrupt() {
	cn.rmu.Lock()
	if cn.waiting {
		cn.interrupted = true
		_ = cn.nc.SetReadDeadline(time.Unix(1, 0))
	}
	cn.rmu.Unlock()
}

// setWaiting marks the start (true) or end (false) of a wait for data and
// reports whether an interrupt poisoned the read deadline meanwhile.
func (cn *conn) setWaiting(w bool) (interrupted bool) {
	cn.rmu.Lock()
	cn.waiting = w
	interrupted = cn.interrupted
	cn.interrupted = false
	cn.rmu.Unlock()
	return interrupted
}

// readOne reads the single reply of c. It returns an error only when the
// connection is out of step; a server's error reply is stored in c.err.
func (cn *conn) readOne(c *call) error {
	if err := wire.ReadHeader(cn.br, &c.rep); err != nil {
		return cn.replyError(c, err)
	}
	if c.kind == kindNoop {
		if c.rep.Code != wire.CodeMN {
			return fmt.Errorf("%w: %v reply to mn", wire.ErrMalformed, c.rep.Code)
		}
		return nil
	}
	if o, ok := c.rep.OpaqueUint32(); !ok || o != c.opaque {
		return fmt.Errorf("%w: reply opaque %q, want %d", wire.ErrMalformed, c.rep.Opaque, c.opaque)
	}
	if c.rep.Code != wire.CodeVA {
		return nil
	}
	if c.state.Load() == callAbandoned {
		return wire.DiscardValue(cn.br, c.rep.Size)
	}
	v, err := wire.ReadValue(cn.br, c.rep.Size, valueBuf(c.rep.Size))
	c.val = v
	return err
}

// readMulti reads the hits of a quiet multi-get up to its closing MN.
func (cn *conn) readMulti(c *call) error {
	n := uint32(len(c.keys))
	for {
		if err := wire.ReadHeader(cn.br, &c.rep); err != nil {
			if err = cn.replyError(c, err); err != nil {
				return err
			}
			continue
		}
		switch c.rep.Code {
		case wire.CodeMN:
			return nil
		case wire.CodeVA, wire.CodeEN:
		default:
			return fmt.Errorf("%w: %v in a multi-get", wire.ErrMalformed, c.rep.Code)
		}
		o, ok := c.rep.OpaqueUint32()
		idx := o - c.opaque
		if !ok || idx >= n {
			return fmt.Errorf("%w: reply opaque %q outside [%d,%d)", wire.ErrMalformed, c.rep.Opaque, c.opaque, c.opaque+n)
		}
		if c.rep.Code != wire.CodeVA {
			continue
		}
		if c.state.Load() == callAbandoned {
			if err := wire.DiscardValue(cn.br, c.rep.Size); err != nil {
				return err
			}
			continue
		}
		v, err := wire.ReadValue(cn.br, c.rep.Size, valueBuf(c.rep.Size))
		if err != nil {
			return err
		}
		c.hits = append(c.hits, multiHit{idx: int(idx), item: itemFromReply(c.keys[idx], &c.rep, v)})
	}
}

// replyError sorts a ReadHeader error: a server's error reply is recorded in
// c.err (nil returned, connection in step), anything else is fatal.
func (cn *conn) replyError(c *call, err error) error {
	switch {
	case errors.Is(err, wire.ErrServerError), errors.Is(err, wire.ErrClientError):
		if c.err == nil {
			c.err = fmt.Errorf("transport: %s: %w", cn.pool.node.addr, err)
		}
		return nil
	case errors.Is(err, wire.ErrUnknownCommand):
		return fmt.Errorf("%w: %w", ErrNoMeta, err)
	}
	return err
}

// fail closes the connection and fails every queued call with cause.
func (cn *conn) fail(cause error) {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return
	}
	cn.closed = true
	cn.closeErr = cause
	pending := cn.queue[cn.qhead:]
	cn.queue, cn.qhead = nil, 0
	close(cn.dead)
	cn.mu.Unlock()

	_ = cn.nc.Close()
	if len(pending) > 0 {
		cn.pool.node.log.Debug("transport: connection closed", "addr", cn.pool.node.addr,
			"pool", cn.pool.class.String(), "pending", len(pending), "err", cause)
	}
	err := fmt.Errorf("%w: %w", ErrConnClosed, cause)
	for _, c := range pending {
		cn.pool.complete(c, err)
	}
}

// valueBuf returns a buffer for a value of size bytes: exact for the usual
// sizes, grown as bytes arrive for very large ones, so that a corrupt length
// cannot allocate memory the connection never delivers.
func valueBuf(size int) []byte {
	if size > 1<<20 {
		return nil
	}
	return make([]byte, 0, size)
}

// stalled reports whether the oldest pending request was sent more than
// timeout ago and nothing has been read since.
func (cn *conn) stalled(timeout time.Duration) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed || cn.qhead == len(cn.queue) {
		return false
	}
	sent := cn.queue[cn.qhead].sentAt
	return time.Now().UnixNano()-sent >= int64(timeout) && cn.lastRead.Load() < sent
}

// silentSince reports whether no reply has been read since t (unix nanos).
func (cn *conn) silentSince(t int64) bool { return cn.lastRead.Load() < t }
