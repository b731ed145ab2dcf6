package transport

import (
	"bufio"
	"errors"
	"fmt"
	"net"
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

	mu       sync.Mutex
	wbuf     []byte
	spare    []byte
	queue    []*call
	qhead    int
	seq      uint32
	writing  bool
	closed   bool
	closeErr error

	lastRead atomic.Int64 // unix nanos of the last complete reply
	wake     chan struct{}
	dead     chan struct{}
}

func newConn(p *Pool, nc net.Conn, br *bufio.Reader) *conn {
	cn := &conn{
		pool: p,
		nc:   nc,
		br:   br,
		wake: make(chan struct{}, 1),
		dead: make(chan struct{}),
		seq:  1,
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

// send queues c and writes it (or leaves it to the write in progress).
func (cn *conn) send(c *call) error {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return errConnDead
	}
	c.opaque = cn.seq
	cn.seq += c.lines()
	if cn.seq == 0 || cn.seq < c.opaque { // keep opaque ranges from wrapping
		c.opaque = 1
		cn.seq = 1 + c.lines()
	}
	cn.wbuf = c.encode(cn.wbuf)
	c.sentAt = time.Now().UnixNano()
	cn.queue = append(cn.queue, c)
	if cn.writing {
		cn.mu.Unlock()
		return nil
	}
	cn.writing = true
	if len(cn.queue)-cn.qhead > 1 {
		// Other requests are waiting for replies: the connection is busy, so
		// let the writer goroutine gather more requests into one write.
		cn.mu.Unlock()
		cn.wakeWriter()
		return nil
	}
	// An idle connection: write at once, in this goroutine, for latency.
	buf := cn.wbuf
	cn.wbuf = cn.spare[:0]
	cn.spare = nil
	cn.mu.Unlock()

	cn.pool.node.stats.writes.Add(1)
	err := cn.write(buf)
	cn.mu.Lock()
	cn.keep(buf)
	if err != nil || len(cn.wbuf) == 0 {
		cn.writing = false
		cn.mu.Unlock()
		return nil // a write error fails the connection and with it c
	}
	cn.mu.Unlock()
	// More requests arrived during the write: the writer goroutine sends
	// them, so this caller can go back to waiting for its own reply.
	cn.wakeWriter()
	return nil
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

// readLoop reads replies in order until the connection fails.
func (cn *conn) readLoop() {
	for {
		if _, err := cn.br.Peek(1); err != nil {
			cn.fail(fmt.Errorf("read: %w", err))
			return
		}
		c := cn.pop()
		if c == nil {
			cn.fail(fmt.Errorf("%w: reply with no request pending", wire.ErrMalformed))
			return
		}
		var err error
		if c.kind == kindMulti {
			err = cn.readMulti(c)
		} else {
			err = cn.readOne(c)
		}
		cn.lastRead.Store(time.Now().UnixNano())
		if err != nil {
			cn.fail(err)
			cn.pool.complete(c, fmt.Errorf("%w: %w", ErrConnClosed, err))
			return
		}
		cn.pool.complete(c, c.err)
	}
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

// silentSince reports whether no reply has been read since t (unix nanos).
func (cn *conn) silentSince(t int64) bool { return cn.lastRead.Load() < t }
