package server

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loopEvents is the most readiness events one wait of a loop returns.
const loopEvents = 128

// loopStepCommands is the most commands a loop runs for one connection
// before it serves the others (memcached's reqs_per_event is 20).
const loopStepCommands = 32

// eventLoops serves plain TCP connections from a few epoll loops instead
// of a goroutine each (Config.EventLoops).
//
// With a goroutine per connection, every small request parks its
// goroutine once the reply is written and has it woken by the poller for
// the next: at 50 to 500 busy connections that scheduling is most of the
// CPU the server spends of its own. A loop waits for all its connections
// at once and runs the commands of every connection that became readable
// in one wake-up.
//
// A loop only runs what cannot wait: the commands buffered whole, as
// conn.step runs them. A connection whose next command is not buffered
// whole (a large value, a long multi-get, a value arriving in pieces)
// goes back to a goroutine of its own for that command and returns to its
// loop once it would wait for input again. A command that has to wait in
// the middle (a reply larger than the socket buffer, a wait for
// large-value budget, a metadump) first hands the loop to a new goroutine
// (conn.leaveLoop) and then waits on the goroutine that ran it, which
// serves that connection until it would wait for input, then gives it
// back. So no client can stall the others of its loop; and a loop runs at
// most loopStepCommands of one connection before the others.
//
// A loop reads and writes its sockets within RawConn.Control, so that a
// Close from another goroutine (closeConns) waits for the step to end and
// a descriptor number is never used after it was closed and reused.
type eventLoops struct {
	loops []*eventLoop
	next  atomic.Uint32
	// wakeScheduler starts a goroutine that does nothing, which has the
	// scheduler wake a thread for an idle processor (runner.watchSiblings);
	// a field so that tests can count the calls.
	wakeScheduler func()
}

// loopYieldEvents is the fewest readiness events after whose pass a loop
// yields its thread (yieldThread).
const loopYieldEvents = 2

// yieldThread lets another thread waiting for this CPU run
// (sched_yield(2)); with none waiting it returns at once. A loop under
// load finds events again as soon as it finishes a pass, so it never
// sleeps: on cores shared with other processes (the clients on the same
// host, a load generator) those waited for the scheduler to preempt it,
// and their requests came in fewer, later batches. Yielding once a pass
// that served two or more connections lets them send before the next
// pass, which then serves more connections with each of its system calls.
// A pass of one event (a lone client) does not yield, and costs nothing
// more.
func yieldThread() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// loopWatchEvery is how long a runner serves without waiting before it
// looks whether a sibling loop waits in Go's poller with events it has not
// been woken for (runner.watchSiblings).
const loopWatchEvery = 200 * time.Microsecond

// eventLoop is one epoll instance and the connections registered in it.
// The instance itself is waited on through Go's poller, so a loop with
// nothing to do parks a goroutine, not a thread.
type eventLoop struct {
	s    *Server
	ls   *eventLoops
	ep   *os.File // the epoll instance
	epfd int
	rc   syscall.RawConn

	mu     sync.Mutex
	wake   int     // an eventfd in the epoll instance: mail is waiting
	inbox  []*conn // connections to take over
	kicks  []*conn // connections woken (wakeIfIdle) or closed (closeConns)
	closed bool    // under mu: wake is closed
	// stopping is set by eventLoops.close before it closes ep.
	stopping atomic.Bool
	// parked is set while the loop's runner waits in Go's poller.
	parked atomic.Bool

	// Owned by the goroutine running the loop (a runner), and handed on
	// with the loop.
	slots []*conn
	free  []int32
	gen   uint32
	// again holds the connections whose step stopped at
	// loopStepCommands: their commands left in the read buffer get no
	// readiness event, so they are stepped again after the next wait
	// (which then does not block).
	again, spare []*conn

	// idleR and idleOut are read buffers and output buffers the loop
	// lends to the connection it steps when that connection has none
	// (lend): a connection that is left with nothing buffered gives its
	// buffers back (takeBack), so that the loop's connections share a few
	// buffers that stay in the processor's caches (memcached's worker
	// threads do the same), and an idle connection holds none. The loop
	// keeps up to loopIdleBuffers of each, for the connections that keep
	// theirs a while (a step cut at loopStepCommands, a command on a
	// goroutine).
	idleR   []*bufio.Reader
	idleOut [][]byte

	// runFn is run, bound once (a method value here keeps the command
	// table's initialisation free of a cycle through leaveLoop).
	runFn func()

	// batch sends the replies of a pass with one system call; nil without
	// io_uring (Config.DisableIOURing, or a kernel that has none).
	batch *sendBatch
	// recv reads the sockets of a pass with one system call; nil when
	// batch is.
	recv *recvBatch
	// serveFn is conn.serve, for endPass (bound here, as runFn is).
	serveFn func(*conn)
}

// runner is one goroutine's turn at running a loop. It ends when a
// command it runs has to wait (detached) or the loop is closed.
type runner struct {
	l        *eventLoop
	events   []unix.EpollEvent
	detached bool
	sink     uint64 // keeps touch's loads
	// rest is what is left of the connections being stepped again when
	// the runner detaches: they go back to the loop's again.
	rest []*conn

	// wait's state: poll bound once, whether to block, the events taken
	// and the error.
	pollFn func(fd uintptr) bool
	block  bool
	n      int
	werr   error

	// watchSiblings' state: when the runner last waited in Go's poller
	// or looked at its siblings, and the descriptors it polls.
	watched time.Time
	pfds    []unix.PollFd
}

// wakeSlot marks the eventfd's events.
const wakeSlot = -1

// loopConn is a connection's state towards its event loop.
type loopConn struct {
	rio  *rawIO
	home *eventLoop // the loop it is served by when not on a goroutine
	// slot and gen identify it in home's epoll events while registered.
	slot int32
	gen  uint32
	// in is set, under conn.stateMu, while it is registered in home.
	in bool
	// runner is the runner executing its commands, within a step.
	runner *runner
	// stepFn is loopStepFn bound to the connection, made once.
	stepFn func(fd uintptr)
	done   bool // stepFn's result
	// never is set when the loop could not take it: it stays on its
	// goroutine.
	never bool
}

// newEventLoops starts n loops.
func newEventLoops(s *Server, n int) (*eventLoops, error) {
	ls := &eventLoops{wakeScheduler: func() { go func() {}() }}
	for range n {
		l, err := newEventLoop(s)
		if err != nil {
			ls.close()
			return nil, err
		}
		l.ls = ls
		ls.loops = append(ls.loops, l)
	}
	// Runners read ls.loops (watchSiblings): start them once it is whole.
	for _, l := range ls.loops {
		go l.run()
	}
	return ls, nil
}

func newEventLoop(s *Server) (*eventLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("server: epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("server: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeSlot}
	if err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err == nil {
		err = unix.SetNonblock(epfd, true)
	}
	if err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("server: epoll instance: %w", err)
	}
	// A non-blocking descriptor given to os.NewFile joins Go's poller;
	// only then does it take deadlines, which tells that it did.
	ep := os.NewFile(uintptr(epfd), "epoll")
	rc, err := ep.SyscallConn()
	if err == nil {
		err = ep.SetReadDeadline(time.Time{})
	}
	if err != nil {
		ep.Close()
		unix.Close(wake)
		return nil, fmt.Errorf("server: epoll instance not pollable: %w", err)
	}
	l := &eventLoop{s: s, ep: ep, epfd: epfd, rc: rc, wake: wake}
	l.runFn = l.run
	l.serveFn = (*conn).serve
	if !s.cfg.DisableIOURing {
		if l.batch, err = newSendBatch(); err == nil {
			if l.recv, err = newRecvBatch(loopEvents); err != nil {
				l.batch.close()
				l.batch = nil
			}
		}
		if err != nil {
			l.s.log.Info("event loop reads each request and writes each reply with a system call of its own", "reason", err)
		}
	}
	return l, nil
}

// close stops the loops. The server's connections must all have ended.
func (ls *eventLoops) close() {
	for _, l := range ls.loops {
		l.stopping.Store(true)
		l.ep.Close() // the runner's wait fails; it closes wake
	}
}

// adopt gives c, a plain TCP connection with nothing in flight, to a loop.
// It reports false when c must stay on its goroutine.
func (ls *eventLoops) adopt(c *conn) bool {
	if c.lp.never {
		return false
	}
	if c.lp.home == nil {
		rio, ok := c.raw.(*rawIO)
		if !ok {
			c.lp.never = true
			return false
		}
		c.lp.rio = rio
		rio.leave = c.leaveLoop
		c.lp.stepFn = c.loopStepFn
		c.lp.home = ls.loops[int(ls.next.Add(1))%len(ls.loops)]
		rio.owner = c
	}
	l := c.lp.home
	l.mu.Lock()
	l.inbox = append(l.inbox, c)
	l.signalLocked()
	l.mu.Unlock()
	return true
}

// kick asks the loop to look at c, which was woken or closed.
func (l *eventLoop) kick(c *conn) {
	l.mu.Lock()
	l.kicks = append(l.kicks, c)
	l.signalLocked()
	l.mu.Unlock()
}

// signalLocked makes the eventfd readable, so that the loop reads its mail.
func (l *eventLoop) signalLocked() {
	if l.closed {
		return
	}
	one := [8]byte{1}
	_, _ = unix.Write(l.wake, one[:])
}

// kickLoop tells c's loop that c was woken or closed, if c is registered
// in it. It is called with c.stateMu held, or after c was closed.
func (c *conn) kickLoop() {
	if c.lp.in {
		c.lp.home.kick(c)
	}
}

// run is a runner: it waits for readiness and serves it until the loop is
// closed or a command it runs has to wait.
func (l *eventLoop) run() {
	r := &runner{l: l, events: make([]unix.EpollEvent, loopEvents), watched: time.Now()}
	r.pollFn = r.poll
	for {
		n, err := l.wait(r, len(l.again) == 0)
		if err != nil {
			if !l.stopping.Load() {
				l.s.log.Error("event loop stopped", "err", err)
			}
			l.mu.Lock()
			l.closed = true
			unix.Close(l.wake)
			l.mu.Unlock()
			if l.batch != nil {
				l.batch.close()
				l.recv.close()
			}
			return
		}
		l.beginPass()
		l.recvReady(r, n)
		l.touch(r, n)
		for i := range n {
			ev := &r.events[i]
			if ev.Fd == wakeSlot {
				l.readMail(r)
			} else {
				l.ready(r, ev.Fd, uint32(ev.Pad))
			}
			if r.detached {
				return
			}
		}
		if len(l.again) > 0 {
			again := l.again
			l.again, l.spare = l.spare[:0], nil
			for i, c := range again {
				if l.holds(c) {
					r.rest = again[i+1:]
					l.step(r, c)
					if r.detached {
						return
					}
				}
			}
			clear(again)
			l.spare, r.rest = again[:0], nil
		}
		l.endPass()
		if n >= loopYieldEvents {
			l.s.loopYields.Add(1)
			yieldThread()
		}
		r.watchSiblings()
	}
}

// watchSiblings wakes the scheduler for a sibling loop whose runner waits
// in Go's poller while events wait for it, once this runner has served for
// loopWatchEvery without waiting itself.
//
// Go's poller is read by a thread with no goroutine to run, or by its
// monitor every 10 ms. When two runners wait and the thread blocked in
// the poller wakes for one of them, no thread reads the poller any more
// while that runner is busy: the other loop's clients then waited 10 to
// 20 ms under a pipelined multi-get load. Starting a goroutine makes the
// scheduler wake a thread for an idle processor, which reads the poller
// before it looks for other work.
func (r *runner) watchSiblings() {
	if len(r.l.ls.loops) < 2 {
		return
	}
	now := time.Now()
	if now.Sub(r.watched) < loopWatchEvery {
		return
	}
	r.watched = now
	r.pfds = r.pfds[:0]
	for _, o := range r.l.ls.loops {
		if o != r.l && o.parked.Load() {
			r.pfds = append(r.pfds, unix.PollFd{Fd: int32(o.epfd), Events: unix.POLLIN})
		}
	}
	if len(r.pfds) == 0 {
		return
	}
	if n, err := unix.Poll(r.pfds, 0); err == nil && n > 0 {
		r.l.ls.wakeScheduler()
	}
}

// touch reads the state of the connections of a batch of events before
// any is served. With hundreds of connections that state is out of the
// processor's caches; loads that do not depend on one another let it
// fetch the lines of all of them at once, instead of one miss after the
// other as each connection is served.
func (l *eventLoop) touch(r *runner, n int) {
	var sum uint64
	for i := range n {
		if c := l.at(r.events[i].Fd); c != nil {
			sum += uint64(c.lp.gen) + c.flushes + uint64(c.tick)
		}
	}
	for i := range n {
		if c := l.at(r.events[i].Fd); c != nil {
			sum += uint64(c.lp.rio.fd) + uint64(c.pending)
		}
	}
	r.sink += sum
}

// wait returns the next readiness events, parking in Go's poller while
// there are none if block is set.
func (l *eventLoop) wait(r *runner, block bool) (int, error) {
	r.n, r.block, r.werr = 0, block, nil
	err := l.rc.Read(r.pollFn)
	if l.parked.Load() {
		l.parked.Store(false)
		r.watched = time.Now()
	}
	if err != nil {
		return 0, err
	}
	return r.n, r.werr
}

// poll takes the ready events without waiting, within wait; it reports
// whether wait is done (r.pollFn, bound once so that a wait allocates
// nothing).
func (r *runner) poll(fd uintptr) bool {
	for {
		m, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&r.events[0])), uintptr(len(r.events)), 0, 0, 0)
		switch e {
		case 0:
			r.n = int(m)
			if r.n == 0 && r.block {
				r.l.parked.Store(true)
				return false
			}
			return true
		case syscall.EINTR:
			continue
		}
		r.werr = fmt.Errorf("server: epoll_pwait: %w", e)
		return true
	}
}

// readMail takes the connections handed over and the kicks, one at a time
// so that what a detached runner leaves stays for the next.
func (l *eventLoop) readMail(r *runner) {
	var buf [8]byte
	_, _ = unix.Read(l.wake, buf[:])
	for !r.detached {
		l.mu.Lock()
		var c *conn
		kick := len(l.kicks) > 0
		switch {
		case kick:
			c, l.kicks[0] = l.kicks[0], nil
			l.kicks = l.kicks[1:]
		case len(l.inbox) > 0:
			c, l.inbox[0] = l.inbox[0], nil
			l.inbox = l.inbox[1:]
		}
		l.mu.Unlock()
		switch {
		case c == nil:
			return
		case kick:
			l.kicked(c)
		default:
			l.admit(r, c)
		}
	}
}

// admit registers c and serves what it already has.
func (l *eventLoop) admit(r *runner, c *conn) {
	slot := l.take(c)
	var addErr error
	err := c.lp.rio.control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: slot, Pad: int32(c.lp.gen)}
		addErr = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil { // closed meanwhile (closeConns)
		l.release(slot)
		c.finish()
		return
	}
	if addErr != nil {
		l.release(slot)
		l.s.log.Warn("event loop cannot take a connection; it keeps its goroutine", "err", addErr)
		c.lp.never = true
		go c.serve()
		return
	}
	c.stateMu.Lock()
	c.lp.in = true
	woken := c.state.Load() == connWoken
	c.stateMu.Unlock()
	if woken {
		l.kicked(c)
		return
	}
	l.step(r, c) // it may have commands buffered, which no event announces
}

// kicked ends c if it is still registered here, idle and woken
// (wakeIfIdle), or closed.
func (l *eventLoop) kicked(c *conn) {
	if c.lp.home != l || !l.holds(c) {
		return // it left the loop meanwhile; its goroutine sees the wake-up
	}
	closed := c.lp.rio.control(func(uintptr) {}) != nil
	if closed || c.state.Load() == connWoken {
		// finish closes the socket, which takes it out of the epoll
		// instance.
		l.release(c.lp.slot)
		c.finish()
	}
}

// ready serves the connection in slot, which became readable.
func (l *eventLoop) ready(r *runner, slot int32, gen uint32) {
	if c := l.at(slot); c != nil && c.lp.gen == gen {
		l.step(r, c)
	}
}

// at is the connection registered in slot, or nil (a free slot, or the
// eventfd's wakeSlot).
func (l *eventLoop) at(slot int32) *conn {
	if slot < 0 || int(slot) >= len(l.slots) {
		return nil
	}
	return l.slots[slot]
}

// holds reports whether c is registered in the slot it was last given
// here (it may have left the loop since).
func (l *eventLoop) holds(c *conn) bool { return l.at(c.lp.slot) == c }

// step runs c's buffered commands. When they are done it stays; when the
// next command must be read on a goroutine, or the connection ended, it
// leaves the loop.
func (l *eventLoop) step(r *runner, c *conn) {
	l.lend(c)
	c.lp.runner, c.lp.done = r, false
	c.stepLimit, c.yielded = loopStepCommands, false
	err := c.lp.rio.control(c.lp.stepFn)
	c.lp.runner, c.stepLimit = nil, 0
	done := c.lp.done
	if r.detached { // c left the loop within the step, and this goroutine with it
		switch {
		case err != nil || c.ended:
			c.finish()
		case done:
			c.serveLeft()
		default:
			c.serve()
		}
		return
	}
	if err != nil { // closed (closeConns)
		l.release(c.lp.slot)
		c.finish()
		l.takeBack(c)
		return
	}
	if !done {
		if c.yielded {
			l.again = append(l.again, c)
		}
		l.takeBack(c)
		return
	}
	l.release(c.lp.slot) // stepFn took it out of the epoll instance
	if c.ended {
		c.finish()
		l.takeBack(c) // for the loop's next connections
		return
	}
	l.s.handoffs[handoffRead].Add(1)
	go c.serveLeft()
}

// loopStepFn runs the connection's step on its socket, within control.
func (c *conn) loopStepFn(fd uintptr) {
	r := c.lp.runner
	done := c.lp.rio.loopStep(fd, c.serveStep)
	if done && !r.detached {
		_ = unix.EpollCtl(r.l.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	}
	c.lp.done = done
}

// leaveLoop is called before a command running in a loop waits: the
// connection leaves the loop, and the loop goes on in a new runner, so
// that the wait holds up this connection only. Outside a loop it does
// nothing.
func (c *conn) leaveLoop() {
	r := c.lp.runner
	if r == nil || r.detached {
		return
	}
	l := r.l
	l.s.handoffs[handoffWait].Add(1)
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(c.lp.rio.fd), nil)
	l.release(c.lp.slot)
	c.lp.rio.inLoop = false
	c.lp.runner = nil
	r.detached = true
	l.again = append(l.again, r.rest...)
	r.rest = nil
	l.endPass() // the new runner starts a pass of its own
	l.mu.Lock()
	l.signalLocked() // mail this runner had not read yet
	l.mu.Unlock()
	go l.runFn()
}

// loopIdleBuffers is the most read buffers, and output buffers, a loop
// keeps to lend.
const loopIdleBuffers = 16

// lend gives c buffers the loop holds, or new ones, where it has none.
func (l *eventLoop) lend(c *conn) {
	if c.r == nil {
		var r *bufio.Reader
		if n := len(l.idleR); n > 0 {
			r, l.idleR[n-1] = l.idleR[n-1], nil
			l.idleR = l.idleR[:n-1]
		} else {
			r = bufio.NewReaderSize(nil, readBufferSize)
		}
		r.Reset(readCounter{c})
		c.r = r
	}
	if c.out == nil {
		var out []byte
		if n := len(l.idleOut); n > 0 {
			out, l.idleOut[n-1] = l.idleOut[n-1], nil
			l.idleOut = l.idleOut[:n-1]
		} else {
			out = make([]byte, 0, outBufferSize)
		}
		c.out = out
	}
}

// takeBack takes c's buffers when they hold nothing: c stays in the loop,
// waiting for its client. The loop keeps up to loopIdleBuffers of each to
// lend; the garbage collector gets the others.
func (l *eventLoop) takeBack(c *conn) {
	if c.r != nil && c.r.Buffered() == 0 && c.pending == 0 {
		if len(l.idleR) < loopIdleBuffers {
			c.r.Reset(nil)
			l.idleR = append(l.idleR, c.r)
		}
		c.r = nil
	}
	if c.out != nil && len(c.out) == 0 && c.outCharged == 0 && c.spare == 0 {
		if len(l.idleOut) < loopIdleBuffers && cap(c.out) <= retainedBuffer {
			l.idleOut = append(l.idleOut, c.out)
		}
		c.out = nil
	}
}

// take gives c a slot.
func (l *eventLoop) take(c *conn) int32 {
	var slot int32
	if n := len(l.free); n > 0 {
		slot, l.free = l.free[n-1], l.free[:n-1]
		l.slots[slot] = c
	} else {
		slot = int32(len(l.slots))
		l.slots = append(l.slots, c)
	}
	l.gen++
	c.lp.slot, c.lp.gen = slot, l.gen
	return slot
}

// release frees slot; its connection is no longer registered. The batch
// is sent first: the connection may be closed or written by its goroutine
// next.
func (l *eventLoop) release(slot int32) {
	l.sendBatched()
	c := l.slots[slot]
	if c.lp.rio != nil {
		c.lp.rio.keepStaged() // out of the arena the next pass reuses
	}
	l.slots[slot] = nil
	l.free = append(l.free, slot)
	c.stateMu.Lock()
	c.lp.in = false
	c.stateMu.Unlock()
}

// sendUnsent writes what a batched send left for c (rawIO.sendUnsent).
func (c *conn) sendUnsent() error {
	if r, ok := c.raw.(*rawIO); ok {
		return r.sendUnsent()
	}
	return nil
}
