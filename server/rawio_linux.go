package server

import (
	"fmt"
	"io"
	"net"
	"syscall"
	"unsafe"
)

// rawIO reads and writes a TCP connection's socket with raw system calls,
// still waiting for readiness through Go's network poller (so deadlines and
// Close work as for any net.Conn).
//
// net.Conn's Read and Write tell the scheduler that the goroutine enters a
// system call. On loopback a write carries the receiver's whole TCP input
// path and can take tens of microseconds, long enough for the runtime's
// monitor to hand the goroutine's processor to another thread, which then
// has to be woken, and the writer to wait for a processor when it returns.
// Under load that churn of threads cost more CPU than the commands. The
// socket is non-blocking, so a raw call never blocks: at worst it holds its
// processor for the kernel's time.
// maxRawWrite bounds one write system call, so that a large value holds
// its processor for a bounded time.
const maxRawWrite = 1 << 20

type rawIO struct {
	rc syscall.RawConn

	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
	serveFn func(fd uintptr) bool

	// Within serve: the socket, the step to call, and whether the socket
	// was drained by the last read.
	fd      uintptr
	step    func() bool
	serving bool
	empty   bool
	// inLoop is set while an event loop runs step (loopStep): a write
	// that would wait first calls leave, which hands the loop to another
	// goroutine, so that one slow reader never stalls the loop's others.
	inLoop bool
	leave  func()

	// With io_uring (sendBatch): the connection, whose loop's batch takes
	// its writes; the batch its last batched write went to; what a
	// batched send left (a full socket buffer), which goes out before
	// anything else; and a batched send's error, which the next write
	// returns.
	owner    *conn
	batchGen uint64
	unsent   []byte
	sendErr  error
	// What the loop's batched receive read (recvBatch), returned before
	// the socket is read again: the bytes, whether the receive filled its
	// room (the socket may hold more), and the end of the stream or the
	// error it met instead.
	staged     []byte
	stagedMore bool
	stagedErr  error

	p   []byte // the buffer of the call in progress
	n   int    // bytes moved by it
	err error  // its error
}

// newRawIO returns raw I/O for nc, or nil when nc is not a plain TCP
// connection (TLS, a test's in-memory conn).
func newRawIO(nc net.Conn) rawConnIO {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawIO{rc: rc}
	r.readFn = r.doRead
	r.writeFn = r.doWrite
	r.serveFn = r.doServe
	return r
}

// Read reads into p, waiting for data if there is none.
func (r *rawIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.staged != nil || r.stagedErr != nil {
		return r.readStaged(p)
	}
	r.p, r.n, r.err = p, 0, nil
	if r.serving {
		ok := r.doRead(r.fd)
		r.p = nil
		// A short read drains the socket of data, but not of an end of
		// stream that came before it: that is only read by the next
		// read. An event loop's level-triggered wait reports it again;
		// Go's poller, edge-triggered, may have merged its readiness into
		// the data's, already taken, and would never wake serve for it.
		// So on a goroutine only a read that finds nothing drains.
		r.empty = !ok || r.inLoop && r.n < len(p)
		if !ok {
			return 0, errWouldBlock
		}
		return r.n, r.err
	}
	if err := r.sendUnsent(); err != nil {
		r.p = nil
		return 0, err
	}
	err := r.rc.Read(r.readFn)
	r.p = nil
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	return r.n, r.err
}

// readStaged returns what the loop's batched receive read. Within a loop,
// a receive that got less than its room drained the socket, as a short
// read does (see Read).
func (r *rawIO) readStaged(p []byte) (int, error) {
	if r.staged == nil {
		err := r.stagedErr
		r.stagedErr = nil
		if r.serving {
			r.empty = r.inLoop
		}
		return 0, err
	}
	n := copy(p, r.staged)
	r.staged = r.staged[n:]
	if len(r.staged) == 0 {
		r.staged = nil
	}
	if r.serving {
		r.empty = r.inLoop && r.staged == nil && !r.stagedMore
	}
	return n, nil
}

// serve implements rawConnIO. A read that finds the socket empty drained
// it; data that arrives later makes the poller wake serve, whose readiness
// flag was reset once, before the first read.
func (r *rawIO) serve(step func() bool) error {
	r.step = step
	err := r.rc.Read(r.serveFn)
	r.serving, r.step = false, nil
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// loopStep runs step once for an event loop, on the socket fd, which the
// loop found readable (or has just taken over). Reads within it do not
// wait; a write that would wait calls leave first.
func (r *rawIO) loopStep(fd uintptr, step func() bool) bool {
	r.fd, r.serving, r.empty, r.inLoop = fd, true, false, true
	done := step()
	r.serving, r.inLoop = false, false
	return done
}

// control runs f with the socket, which stays open until f returns.
func (r *rawIO) control(f func(fd uintptr)) error { return r.rc.Control(f) }

func (r *rawIO) doServe(fd uintptr) bool {
	r.fd, r.serving, r.empty = fd, true, false
	return r.step()
}

// drained implements rawConnIO.
func (r *rawIO) drained() bool { return r.empty }

func (r *rawIO) doRead(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.p))), uintptr(len(r.p)))
		switch e {
		case 0:
			r.n = int(n)
			if n == 0 {
				r.err = io.EOF
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.err = fmt.Errorf("read: %w", e)
		return true
	}
}

// Write writes all of p, waiting for room in the socket buffer as needed.
func (r *rawIO) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.sendErr != nil {
		return 0, r.sendErr
	}
	done := 0 // written in the loop
	if r.inLoop {
		if l := r.owner.lp.home; l.batch != nil && r.unsent == nil {
			if l.batch.add(r.owner, p) {
				return len(p), nil
			}
			l.sendBatched() // the batched writes go first
			if r.sendErr != nil {
				return 0, r.sendErr
			}
		}
		if r.unsent == nil {
			r.p, r.n, r.err = p, 0, nil
			if r.doWrite(r.fd) {
				r.p = nil
				return r.n, r.err
			}
			done = r.n
		}
		// The socket buffer is full: this write waits, outside the loop.
		r.inLoop = false
		r.leave()
	}
	if err := r.sendUnsent(); err != nil {
		return done, err
	}
	r.p, r.n, r.err = p[done:], 0, nil
	err := r.rc.Write(r.writeFn)
	r.p = nil
	if err != nil {
		return done + r.n, fmt.Errorf("write: %w", err)
	}
	return done + r.n, r.err
}

// sendUnsent writes what a batched send left, waiting for room as needed.
// It is called on the connection's goroutine before anything else is
// written and before a wait for input: a client may wait for those
// replies before it sends more.
func (r *rawIO) sendUnsent() error {
	if r.sendErr != nil {
		return r.sendErr
	}
	if len(r.unsent) == 0 {
		return nil
	}
	r.p, r.n, r.err = r.unsent, 0, nil
	err := r.rc.Write(r.writeFn)
	r.p, r.unsent = nil, nil
	if err == nil {
		err = r.err
	}
	if err != nil {
		r.sendErr = fmt.Errorf("write: %w", err)
		return r.sendErr
	}
	return nil
}

func (r *rawIO) doWrite(fd uintptr) bool {
	for r.n < len(r.p) {
		rest := r.p[r.n:]
		if len(rest) > maxRawWrite {
			rest = rest[:maxRawWrite]
		}
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch e {
		case 0:
			r.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			r.err = fmt.Errorf("write: %w", e)
			return true
		}
	}
	return true
}
