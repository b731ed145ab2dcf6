package nodeclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// errConnDead is returned by send on a connection that already failed; the
// request was not queued and may be retried on another connection.
var errConnDead = errors.New("nodeclient: connection is dead")

const (
	readBufferSize = 64 << 10
	maxKeptBuffer  = 4 << 20
)

// conn is one pipelined connection. Callers append encoded requests to wbuf
// and the FIFO queue under mu. On an idle connection the caller writes the
// buffer itself; on a busy one the writer goroutine gathers and writes it
// (one syscall for everything queued). Replies are read in queue order by
// whoever holds the read token (readtoken.go).
type conn struct {
	pool *Pool
	nc   net.Conn
	br   *bufio.Reader
	text bool // the node speaks only the text protocol

	mu        sync.Mutex
	wbuf      []byte
	spare     []byte
	queue     []*call
	qhead     int
	unwritten int // index in queue of the first call not yet handed to a write
	seq       uint32
	writing   bool
	reading   bool // the read token (readtoken.go): held by an ownedRead or by readLoop
	closed    bool
	closeErr  error

	lastRead atomic.Int64  // unix nanos when the latest reply began to arrive (blame.go)
	awaiting atomic.Bool   // the reader waits for bytes with none buffered (blame.go)
	watched  atomic.Bool   // a watchKept check is scheduled (blame.go)
	wake     chan struct{} // wakes writeLoop
	readWake chan struct{} // hands the read token to readLoop
	dead     chan struct{}

	// rmu guards the calls whose callers are writing (flush) or reading
	// (ownedRead) the socket with an interruptible context: only their
	// contexts may poison the socket's deadlines (interrupt.go).
	rmu    sync.Mutex
	writer *call
	reader *call
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

// send queues c. It reports whether the caller took the read token (own):
// then it must read the connection itself (ownedRead, readtoken.go) until
// its own reply has arrived. On an idle connection it also returns the bytes to write
// (buf), and the caller must pass them to flush at once; otherwise the write
// in progress or the writer goroutine sends c.
func (cn *conn) send(c *call) (own bool, buf []byte, err error) {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return false, nil, errConnDead
	}
	own = cn.takeRead()
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
		return own, nil, nil
	}
	cn.writing = true
	if len(cn.queue)-cn.qhead > 1 {
		// Other requests are waiting for replies: the connection is busy, so
		// let the writer goroutine gather more requests into one write.
		cn.mu.Unlock()
		cn.wakeWriter()
		return own, nil, nil
	}
	// An idle connection: the caller writes at once, in its goroutine, for
	// latency.
	buf = cn.wbuf
	cn.markWritten(c.sentAt)
	cn.wbuf = cn.spare[:0]
	cn.spare = nil
	cn.mu.Unlock()
	return own, buf, nil
}

// flush writes buf, which send handed to the caller of c, before deadline.
// With interruptible (ctx can end, and c's interrupt is registered on it)
// the end of ctx stops the write at once. A failed write fails the
// connection and with it every queued call; when ctx caused it, the cause
// wraps errInterrupted. Requests queued during the write go to the writer
// goroutine.
func (cn *conn) flush(ctx context.Context, c *call, buf []byte, deadline time.Time, interruptible bool) error {
	cn.pool.node.stats.writes.Add(1)
	_ = cn.nc.SetWriteDeadline(deadline)
	if interruptible {
		cn.setWriter(c)
		if ctx.Err() != nil { // it ended before the interrupt could see c
			_ = cn.nc.SetWriteDeadline(pastDeadline())
		}
	}
	_, werr := cn.nc.Write(buf)
	if interruptible {
		cn.setWriter(nil)
	}
	if werr != nil {
		cn.fail(ioCause(ctx, "write", werr))
	}
	cn.mu.Lock()
	cn.keep(buf)
	if werr != nil || len(cn.wbuf) == 0 {
		cn.writing = false
		cn.mu.Unlock()
		return werr
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

// write is the writer goroutine's write, under the pool timeout.
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
			cn.markWritten(time.Now().UnixNano())
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
		cn.qhead, cn.unwritten = 0, 0
	}
	return c
}

// fail closes the connection and fails every queued call with cause. A
// connection with requests in flight (queued, being written, or waiting
// for their replies, abandoned ones included) is reset, so that none of
// them reaches the node later; an idle one is closed gracefully. The
// pending calls are completed only after the close, so a caller (or a
// Fence) that sees its request fail knows it will not be delivered.
func (cn *conn) fail(cause error) {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return
	}
	cn.closed = true
	cn.closeErr = cause
	pending := cn.queue[cn.qhead:]
	inFlight := len(pending) > 0 || len(cn.wbuf) > 0 || cn.writing
	cn.queue, cn.qhead, cn.unwritten = nil, 0, 0
	close(cn.dead)
	cn.mu.Unlock()

	_ = closeConn(cn.nc, inFlight)
	if len(pending) > 0 {
		cn.pool.node.log.Debug("nodeclient: connection closed", "addr", cn.pool.node.addr,
			"pool", cn.pool.class.String(), "pending", len(pending), "err", cause)
	}
	err := fmt.Errorf("%w: %w", ErrConnClosed, cause)
	for _, c := range pending {
		cn.pool.complete(c, err)
	}
}
