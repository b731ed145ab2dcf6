package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math/bits"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
)

const (
	readBufferSize = 16 << 10
	// flushThreshold makes a long pipelined batch write out its replies
	// before the read buffer runs dry.
	flushThreshold = 16 << 10
	// outBufferSize is the initial capacity of the output buffer; a
	// pipelining client grows it to about twice flushThreshold, which is
	// then kept.
	outBufferSize = 4 << 10
	// retainedBuffer is the largest output or value buffer a connection
	// keeps between commands; larger ones were grown for a big value and
	// are dropped.
	retainedBuffer = 64 << 10

	// latencySampleEvery: one command in this many is timed for the
	// latency histogram.
	latencySampleEvery = 8

	// pooledValueSize is the size of the pooled buffers that values too big
	// for the read buffer but not huge are read into.
	pooledValueSize = 64 << 10
	// largeValue is the size from which a value copied into the output
	// buffer is charged against the large-value budget.
	largeValue = 64 << 10

	connBusy int32 = 0
	connIdle int32 = 1
	// connWoken: idle, and woken by wakeIfIdle (a wake-up deadline is
	// set).
	connWoken int32 = 2
)

// errLineTooLong means a line without a newline grew past protocol.MaxLineLength.
var errLineTooLong = errors.New("server: command line too long")

// binaryRequestMagic is the first byte of a memcached binary-protocol
// request. No text command starts with it.
const binaryRequestMagic = 0x80

// errBinaryProtocol means a command starts as a binary-protocol request.
// The server speaks only the text protocols and closes the connection at
// once: memcached -B ascii would wait for a newline that a binary request
// may never carry, and the client would wait for its own timeout.
var errBinaryProtocol = errors.New("server: binary protocol request")

// conn is one client connection and its buffers.
type conn struct {
	// The fields each command touches come first, close together: with
	// hundreds of connections their state is cold, and each cache line
	// touched per request costs a miss.
	s  *Server
	rw io.ReadWriter // nc, or raw system calls on its socket
	// raw is rw when it reads the socket with raw system calls: then
	// serveBuffered serves the commands.
	raw rawConnIO
	// serveStep is serveStep bound to c, made once.
	serveStep func() bool
	r         *bufio.Reader
	out       []byte // replies not yet written
	flushes   uint64 // number of writes so far, to tell whether out was cut
	pending   int    // bytes of the read buffer to discard after a data block is used
	// outCharged is what out holds against the large-value budget.
	outCharged int
	dirty      uint64 // which of st (low bits) and cmds (from bit 32) are not zero
	tick       uint32
	state      atomic.Int32
	// ended is set by serveStep when the connection is done.
	ended bool
	// stepLimit bounds the commands one step runs (0: no bound); yielded
	// is set when a step stopped at it with commands possibly left.
	stepLimit int
	yielded   bool
	// authed is set once the connection authenticated, or from the start
	// when the server needs no credentials.
	authed bool
	quit   bool
	// fence is the fence's state for the commands of one read: unless
	// open, retrievals miss (see fence).
	fence fenceState
	// gen is the fence's invalidation count when the connection opened.
	gen uint64
	// lastRead is the Unix second of the last read that brought commands,
	// for "stats conns".
	lastRead atomic.Int64
	// lp is its state towards an event loop (Config.EventLoops).
	lp loopConn

	nc      net.Conn
	toks    [protocol.MaxTokens][]byte
	line    []byte // a copy of a storage command's line, kept while its data is read
	scratch []byte // values built by incr and decr
	keybuf  []byte // base64-decoded keys
	num     []byte // digits of an incr or decr result
	parts   [2][]byte
	val     []byte  // values larger than the read buffer
	valBuf  *[]byte // the pooled buffer val comes from, if any
	// spare is budget awaitRoom set aside for a value not yet in out;
	// wantRoom is the size of the value roomForValue last refused.
	spare, wantRoom int
	// holdSince is when the connection started to wait for its client
	// while holding large-value budget (Unix nanoseconds; 0 when it does
	// not): the budget reclaims it from connections stalled too long.
	holdSince atomic.Int64

	st   [numStats]uint64 // counters not yet merged into the server's
	cmds [numCmds]uint64  // commands executed, not yet merged
	// stateMu orders a shutdown's wake-up deadline with the connection
	// turning busy, so a command that has started is never cut short.
	stateMu sync.Mutex
	// tracked is set when Server.accept counted it among the server's
	// connections (tests serve connections of their own).
	tracked bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		s:       s,
		nc:      nc,
		line:    make([]byte, 0, 256),
		scratch: make([]byte, 0, 64),
		keybuf:  make([]byte, 0, 256),
		num:     make([]byte, 0, 24),
	}
	c.gen = s.fence.gen.Load()
	c.authed = len(s.cfg.Credentials) == 0
	c.lastRead.Store(c.now().Unix())
	c.rw = nc
	if rw := newRawIO(nc); rw != nil {
		c.rw, c.raw = rw, rw
		c.serveStep = c.step
	}
	// The read and output buffers come with the first command: an event
	// loop lends its own (eventLoop.lend); a goroutine makes them
	// (ownBuffers).
	c.state.Store(connIdle) // nothing read yet: nothing in flight
	return c
}

// readCounter counts the bytes read from a connection.
type readCounter struct{ c *conn }

func (rc readCounter) Read(p []byte) (int, error) {
	n, err := rc.c.rw.Read(p)
	if err == errWouldBlock {
		return 0, err
	}
	rc.c.countN(stBytesRead, uint64(n))
	if now := rc.c.now().Unix(); rc.c.lastRead.Load() != now {
		rc.c.lastRead.Store(now)
	}
	// Checked after the read returns: every command it brings was sent
	// after any pause that ended before now, so a stale store is flushed
	// before they run.
	rc.c.fence = rc.c.s.fence.check()
	if rc.c.stale() {
		return 0, errRetired
	}
	return n, err
}

// wakeIfIdle interrupts a connection that is waiting for a new command, so
// it notices the server is shutting down, or is closed for idling. It
// reports whether the connection was idle; when it was, counted is called
// before the wake-up, so that a client seeing the connection close sees it
// counted too.
func (c *conn) wakeIfIdle(counted func()) bool {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if !c.state.CompareAndSwap(connIdle, connWoken) {
		return false
	}
	if counted != nil {
		counted()
	}
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	c.kickLoop()
	return true
}

// setBusy marks the connection as executing a command; if a shutdown or
// the idle timeout woke it at the same moment, the wake-up deadline is
// lifted so the command can read its data.
func (c *conn) setBusy() {
	if c.state.Load() == connBusy || c.state.CompareAndSwap(connIdle, connBusy) {
		return
	}
	c.stateMu.Lock() // woken: wakeIfIdle may still be setting its deadline
	c.state.Store(connBusy)
	_ = c.nc.SetReadDeadline(time.Time{})
	c.stateMu.Unlock()
}

// setIdle marks a busy connection as waiting for a command; one woken
// stays woken.
func (c *conn) setIdle() { c.state.CompareAndSwap(connBusy, connIdle) }

// handshake runs a TLS connection's handshake within
// Config.TLSHandshakeTimeout, in the connection's goroutine so that clients
// that never send a ClientHello hold their own slot only, and not for long.
// A shutdown's wake-up (wakeIfIdle) cuts it short.
func (c *conn) handshake() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	c.stateMu.Lock()
	if c.s.closing.Load() {
		c.stateMu.Unlock()
		return ErrServerClosed
	}
	_ = tc.SetDeadline(time.Now().Add(c.s.cfg.TLSHandshakeTimeout))
	c.stateMu.Unlock()
	err := tc.Handshake()
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	_ = tc.SetWriteDeadline(time.Time{})
	if !c.s.closing.Load() { // else keep the wake-up deadline
		_ = tc.SetReadDeadline(time.Time{})
	}
	return err
}

// serve serves the connection on its goroutine until it ends, or until an
// event loop takes it over.
func (c *conn) serve() {
	for {
		// A loop's batched send may have left replies unsent (a full
		// socket buffer): they go before the connection waits again.
		if err := c.sendUnsent(); err != nil {
			c.finish()
			return
		}
		if c.raw != nil && c.authed && c.s.loops != nil && c.s.loops.adopt(c) {
			return
		}
		c.ownBuffers()
		if c.raw != nil && c.authed {
			if !c.serveBuffered() {
				c.finish()
				return
			}
		}
		line, long, err := c.readLine()
		if !c.exec(line, long, err) {
			c.finish()
			return
		}
	}
}

// serveLeft serves, on a goroutine, the command an event loop left because
// it is not buffered whole, then the connection as serve does.
func (c *conn) serveLeft() {
	c.ownBuffers()
	line, long, err := c.readLine()
	if !c.exec(line, long, err) {
		c.finish()
		return
	}
	c.serve()
}

// ownBuffers gives the connection a read buffer and an output buffer of
// its own where it has none: an event loop takes them back from its
// connections that wait with nothing buffered (eventLoop.takeBack), and
// lends them again for the next step.
func (c *conn) ownBuffers() {
	if c.r == nil {
		c.r = bufio.NewReaderSize(readCounter{c}, readBufferSize)
	}
	if c.out == nil {
		c.out = make([]byte, 0, outBufferSize)
	}
}

// finish closes the connection and forgets it.
func (c *conn) finish() {
	c.mergeStats()
	c.releaseData()
	c.releaseOut()
	c.nc.Close()
	if !c.tracked {
		return
	}
	s := c.s
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.currConns.Add(-1)
	s.connWG.Done()
}

// exec executes one command read by readLine or bufferedLine, or ends the
// connection on the error that came instead. It reports whether the
// connection goes on.
func (c *conn) exec(line []byte, long bool, err error) bool {
	if err == nil && c.stale() {
		err = errRetired // commands read before an invalidation
	}
	if err != nil {
		switch {
		case errors.Is(err, errLineTooLong):
			c.s.log.Debug("closing connection: line without newline", "remote", c.nc.RemoteAddr().String())
		case errors.Is(err, errBinaryProtocol):
			c.s.log.Debug("closing connection: binary protocol request", "remote", c.nc.RemoteAddr().String())
		}
		_ = c.flush()
		return false
	}
	// Reading the clock costs as much as a small command on some
	// machines: time one command in latencySampleEvery.
	c.tick++
	timed := c.tick%latencySampleEvery == 0
	var start time.Time
	if timed {
		start = time.Now()
	}
	var cmd cmdID
	if long && !c.authed {
		// memcached -Y closes a connection whose first line is
		// this long.
		c.quit = true
	} else if long {
		cmd = c.streamGet()
	} else {
		cmd = c.dispatch(line)
	}
	c.countCmd(cmd)
	if timed {
		c.s.metrics.observe(cmd, time.Since(start))
	}
	if c.quit {
		_ = c.flush()
		return false
	}
	if len(c.out) >= flushThreshold {
		return c.flush() == nil
	}
	return true
}

// readLine returns the next command line including its '\n'. The slice
// aliases the read buffer: it is valid until the next read. long reports a
// multi-get line longer than protocol.MaxLineLength whose newline has not arrived;
// it is left in the buffer for streamGet.
func (c *conn) readLine() (line []byte, long bool, err error) {
	for {
		n := c.r.Buffered()
		if n > 0 {
			buf, _ := c.r.Peek(n)
			if buf[0] == binaryRequestMagic {
				return nil, false, errBinaryProtocol
			}
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				_, _ = c.r.Discard(i + 1)
				return buf[:i+1], false, nil
			}
			if n > protocol.MaxLineLength {
				if protocol.IsMultiGetLine(buf) {
					return nil, true, nil
				}
				return nil, false, errLineTooLong
			}
		}
		// Only part of a command, or nothing, is buffered: the replies
		// so far go out before waiting for the rest, or a client that
		// waits for them before sending more would hang. A connection
		// with nothing buffered is idle before its last reply goes out,
		// so a client that has the reply sees it idle (stats conns).
		if n == 0 {
			c.setIdle()
		}
		if err := c.flush(); err != nil {
			return nil, false, err
		}
		if n == 0 && c.s.closing.Load() {
			return nil, false, ErrServerClosed
		}
		_, err := c.r.Peek(n + 1)
		if err != nil {
			return nil, false, err
		}
		c.setBusy()
	}
}

// errNoBuffer means a large value could not be read because the server's
// budget for large-value buffers is spent; its data was read and dropped.
var errNoBuffer = errors.New("server: large-value buffer budget spent")

// readData reads a data block of n bytes and its "\r\n". The result is valid
// until releaseData. Blocks that do not fit the read buffer go to a buffer
// charged against the server's large-value budget as their bytes arrive
// (readLarge); errNoBuffer means the budget is spent and the block was
// dropped. Waiting for the block is bounded by Config.ValueTimeout.
func (c *conn) readData(n int) ([]byte, error) {
	need := n + 2
	if c.r.Buffered() < need {
		if err := c.flush(); err != nil {
			return nil, err
		}
		c.setValueDeadline()
		defer c.clearValueDeadline()
	}
	if need > c.r.Size() {
		return c.readLarge(need)
	}
	b, err := c.r.Peek(need)
	if err != nil {
		return nil, c.valueError(err)
	}
	c.pending = need
	return b, nil
}

// readLarge reads a block larger than the read buffer. Nothing is charged
// until the read buffer is full; then the buffer grows with the data, to
// at most four times what has arrived, so a client that announces a large
// value and stalls holds little of the budget.
func (c *conn) readLarge(need int) ([]byte, error) {
	if _, err := c.r.Peek(c.r.Size()); err != nil {
		return nil, c.valueError(err)
	}
	defer c.holdSince.Store(0)
	for len(c.val) < need {
		if len(c.val) == cap(c.val) && !c.growValue(need) {
			got := len(c.val)
			c.releaseData()
			if err := c.swallow(need - got); err != nil {
				return nil, c.valueError(err)
			}
			return nil, errNoBuffer
		}
		m, err := c.r.Read(c.val[len(c.val):cap(c.val)])
		c.val = c.val[:len(c.val)+m]
		if err != nil {
			return nil, c.valueError(err)
		}
	}
	return c.val, nil
}

// growValue gives c.val room for more of a block of need bytes: four times
// its size (few copies of a large value), at least twice the read buffer,
// at most need. It reports false when the large-value budget has no room.
func (c *conn) growValue(need int) bool {
	size := min(need, max(4*cap(c.val), 2*readBufferSize))
	// Waiting for budget is not waiting for the client: the stall clock
	// starts again once the budget is granted.
	c.holdSince.Store(0)
	if !c.s.reserveLarge(size - cap(c.val)) {
		return false
	}
	c.holdSince.Store(time.Now().UnixNano())
	if size <= pooledValueSize {
		// The first buffer, or a pooled one that still has room.
		if c.valBuf == nil {
			c.valBuf = c.s.valuePool.Get().(*[]byte)
		}
		c.val = (*c.valBuf)[:len(c.val):size]
		return true
	}
	b := make([]byte, len(c.val), size)
	copy(b, c.val)
	if c.valBuf != nil {
		c.s.valuePool.Put(c.valBuf)
		c.valBuf = nil
	}
	c.val = b
	return true
}

// releaseData consumes the data block returned by readData.
func (c *conn) releaseData() {
	if c.pending > 0 {
		_, _ = c.r.Discard(c.pending)
		c.pending = 0
	}
	if c.val != nil {
		c.s.bigBuffers.release(cap(c.val))
		if c.valBuf != nil {
			c.s.valuePool.Put(c.valBuf)
			c.valBuf = nil
		}
		c.val = nil
	}
}

// swallow reads and drops n bytes without buffering them.
func (c *conn) swallow(n int) error {
	if c.r.Buffered() < n {
		if err := c.flush(); err != nil {
			return err
		}
	}
	_, err := c.r.Discard(n)
	return err
}

// flush writes the buffered replies.
func (c *conn) flush() error {
	c.mergeStats()
	if len(c.out) == 0 {
		return nil
	}
	n, err := c.writeOut()
	c.s.stats.v[stBytesWritten].Add(uint64(n))
	c.flushes++
	if cap(c.out) > retainedBuffer {
		c.out = make([]byte, 0, outBufferSize)
	} else {
		c.out = c.out[:0]
	}
	c.releaseOut()
	return err
}

// writeOut writes out the replies. While they hold large-value budget, a
// client that does not read them has Config.ValueTimeout to, and the
// budget can reclaim them from it (reclaimStalled).
func (c *conn) writeOut() (int, error) {
	if c.outCharged == 0 {
		return c.rw.Write(c.out)
	}
	c.holdSince.Store(time.Now().UnixNano())
	if d := c.s.cfg.ValueTimeout; d > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(d))
		defer c.nc.SetWriteDeadline(time.Time{})
	}
	defer c.holdSince.Store(0)
	return c.rw.Write(c.out)
}

// setValueDeadline bounds the wait for a data block by Config.ValueTimeout.
func (c *conn) setValueDeadline() {
	if d := c.s.cfg.ValueTimeout; d > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
}

func (c *conn) clearValueDeadline() {
	if c.s.cfg.ValueTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
}

// valueTimeoutError answers a command whose data block did not arrive
// within Config.ValueTimeout, or that the budget reclaimed; the connection
// is then closed.
const valueTimeoutError = "SERVER_ERROR timed out reading the value\r\n"

// valueError is the error of a failed wait for a data block. When a
// deadline cut it, the client is told (with a second to read it) and the
// event counted.
func (c *conn) valueError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.stats.v[stValueTimeouts].Add(1)
		c.s.log.Info("closing connection: value not received in time", "remote", c.nc.RemoteAddr().String())
		c.str(valueTimeoutError)
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	}
	return err
}

// releaseOut gives back what the replies written held of the budget.
func (c *conn) releaseOut() {
	if n := c.outCharged + c.spare; n > 0 {
		c.s.bigBuffers.release(n)
		c.outCharged, c.spare = 0, 0
	}
}

// roomForValue makes sure a value of n bytes can be added to the output
// buffer: large values are charged against the server's large-value budget
// until the buffer is written out. It reports false when the budget is
// spent (it is called with a store lock held, so it does not wait; the
// caller may awaitRoom and try again).
func (c *conn) roomForValue(n int) bool {
	if n < largeValue {
		return true
	}
	if c.spare >= n {
		c.spare -= n
	} else if !c.s.bigBuffers.reserve(n) {
		c.wantRoom = n
		return false
	}
	c.outCharged += n
	return true
}

// awaitRoom waits, with no lock held, for the budget to have room for the
// value roomForValue last refused, and sets that room aside for the next
// try. It reports false when the budget stayed spent.
func (c *conn) awaitRoom() bool {
	n := c.wantRoom
	c.wantRoom = 0
	if n == 0 {
		return false
	}
	if !c.s.bigBuffers.reserve(n) {
		c.leaveLoop() // the wait below must not hold up a loop
		if !c.s.reserveLarge(n) {
			return false
		}
	}
	c.spare += n
	return true
}

// mergeStats adds the connection's counters to the server's: only those
// counted since the last merge, so that a command touches the few counters
// it counted and not the whole arrays (cold, with hundreds of connections).
func (c *conn) mergeStats() {
	for m := c.dirty; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if i < cmdsDirtyShift {
			c.s.stats.v[i].Add(c.st[i])
			c.st[i] = 0
		} else {
			c.s.stats.cmds[i-cmdsDirtyShift].Add(c.cmds[i-cmdsDirtyShift])
			c.cmds[i-cmdsDirtyShift] = 0
		}
	}
	c.dirty = 0
}

// cmdsDirtyShift is the bit of conn.dirty for the first command counter;
// the statistics' bits come below it.
const cmdsDirtyShift = 32

// The counters must fit conn.dirty's bits.
var _ = [1]struct{}{}[max(0, int(numStats)-cmdsDirtyShift)+max(0, int(numCmds)+cmdsDirtyShift-64)]

// count adds one to the connection's counter id.
func (c *conn) count(id statID) {
	c.st[id]++
	c.dirty |= 1 << uint(id)
}

// countN adds n to the connection's counter id.
func (c *conn) countN(id statID, n uint64) {
	c.st[id] += n
	c.dirty |= 1 << uint(id)
}

// countCmd counts one command of kind id.
func (c *conn) countCmd(id cmdID) {
	c.cmds[id]++
	c.dirty |= 1 << (cmdsDirtyShift + uint(id))
}

func (c *conn) str(s string) { c.out = append(c.out, s...) }

func (c *conn) now() time.Time { return c.s.cfg.Now() }
