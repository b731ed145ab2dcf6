package server

import (
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendBatch holds the replies an event loop's connections write during one
// pass over the connections that became readable, and sends them at the
// end of the pass with one io_uring system call instead of a write(2)
// each: where system calls are dear (virtual machines, kernels with
// speculation mitigations) that is a large part of a small request's cost
// (the README's figures).
//
// A reply is copied into the batch, so the connection's output buffer is
// free at once. Replies are small: past batchConnBytes of one connection's
// in a batch, the batch is sent and the connection writes directly. A
// connection has at most one send in a batch, so its bytes keep their
// order. The sends do not wait (MSG_DONTWAIT): what a full socket buffer
// does not take is kept as the connection's unsent bytes, which go out
// before anything else the connection writes and before it waits for
// input; such a connection moves to a goroutine that writes them
// (eventLoop.endPass).
//
// A socket must stay open while a batch holds a reply for it: closes from
// other goroutines (closeConns) wait for the loops' passes (sendMu), and
// the loop sends its batch before it finishes or gives up a connection
// (eventLoop.release).
type sendBatch struct {
	ring *uring
	// arena holds the replies; ents the sends, one per connection.
	arena []byte
	ents  []batchEnt
	gen   uint64 // the batch, so that a connection knows it has a send in it
	// broken is set when the ring failed: every write is direct from then on.
	broken bool

	// sendAll's arguments, kept to save allocations.
	fds []int32
	ps  [][]byte
	res []int32

	// unsent are the connections a send left bytes for; endPass moves
	// them to goroutines.
	unsent []*conn

	// sendMu is held by the loop's runner during a pass, from its wait's
	// end until the batch is sent (eventLoop.beginPass, endPass).
	sendMu sync.Mutex
}

// batchEnt is one connection's send in a batch: arena[off:off+n].
type batchEnt struct {
	c      *conn
	off, n int
}

const (
	// batchEntries is the most sends in a batch (the ring's size).
	batchEntries = 256
)

// A batch's replies fit in batchArena (budget.go, counted in LoopBytes);
// one that does not fit sends the batch first.

// newSendBatch sets up a batch, or returns an error when the kernel has no
// io_uring the loop can use.
func newSendBatch() (*sendBatch, error) {
	u, err := newUring(batchEntries)
	if err != nil {
		return nil, err
	}
	arena, err := mapArena(batchArena)
	if err != nil {
		u.close()
		return nil, err
	}
	n := u.entries()
	return &sendBatch{ring: u, arena: arena[:0], gen: 1,
		fds: make([]int32, 0, n), ps: make([][]byte, 0, n), res: make([]int32, n)}, nil
}

// mapArena maps size bytes outside the Go heap: an arena is fixed, and on
// the heap it would also raise the garbage collector's target by as much;
// mapped, only the pages a loop touches are resident.
func mapArena(size int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("event loop arena: %w", err)
	}
	return b, nil
}

// add copies p, a write of c's, into the batch. It reports false when p
// must be written directly, after the batch was sent (send).
func (b *sendBatch) add(c *conn, p []byte) bool {
	if b.broken || len(p) > batchConnBytes {
		return false
	}
	r := c.lp.rio
	last := len(b.ents) - 1
	if r.batchGen == b.gen && last >= 0 && b.ents[last].c == c && b.ents[last].n+len(p) <= batchConnBytes && len(b.arena)+len(p) <= cap(b.arena) {
		b.arena = append(b.arena, p...) // its send so far is the last one: it grows
		b.ents[last].n += len(p)
		return true
	}
	if r.batchGen == b.gen || len(b.arena)+len(p) > cap(b.arena) || len(b.ents) == b.ring.entries() {
		// c has a send in the batch it cannot add to (not the last, or
		// at batchConnBytes), or the batch is full: the caller sends the
		// batch first, so that c's bytes keep their order.
		return false
	}
	r.batchGen = b.gen
	b.ents = append(b.ents, batchEnt{c: c, off: len(b.arena), n: len(p)})
	b.arena = append(b.arena, p...)
	return true
}

// send sends the batch. What a send leaves becomes its connection's
// unsent bytes, and the connection is listed for endPass.
func (b *sendBatch) send(s *Server) {
	if len(b.ents) == 0 {
		return
	}
	b.fds, b.ps = b.fds[:0], b.ps[:0]
	for _, e := range b.ents {
		b.fds = append(b.fds, int32(e.c.lp.rio.fd))
		b.ps = append(b.ps, b.arena[e.off:e.off+e.n])
	}
	err := b.ring.sendAll(b.fds, b.ps, b.res[:len(b.ents)])
	if err != nil {
		b.broken = true
		s.log.Warn("event loop: io_uring failed; replies are written one by one from now on", "err", err)
	}
	s.sendBatches.Add(1)
	s.batchedSends.Add(uint64(len(b.ents)))
	for i, e := range b.ents {
		r := e.c.lp.rio
		res := b.res[i]
		switch {
		case res == int32(e.n):
		case res >= 0 || res == -int32(syscall.EAGAIN) || res == notSent:
			sent := max(res, 0)
			r.unsent = append(r.unsent, b.ps[i][sent:]...)
			b.unsent = append(b.unsent, e.c)
			s.shortSends.Add(1)
		default:
			r.sendErr = fmt.Errorf("write: %w", syscall.Errno(-res))
		}
		b.ents[i].c = nil
	}
	b.arena, b.ents = b.arena[:0], b.ents[:0]
	b.gen++
}

// close releases the ring.
func (b *sendBatch) close() {
	b.ring.close()
	_ = unix.Munmap(b.arena[:cap(b.arena)])
}

// beginPass starts a pass over the loop's ready connections: no socket is
// closed by another goroutine until endPass (closeConns waits).
func (l *eventLoop) beginPass() {
	if l.batch != nil {
		l.batch.sendMu.Lock()
	}
}

// endPass sends the pass's batch and moves the connections that a full
// socket buffer left with unsent bytes to goroutines, which write them.
func (l *eventLoop) endPass() {
	b := l.batch
	if b == nil {
		return
	}
	l.endRecv()
	b.send(l.s)
	for i, c := range b.unsent {
		b.unsent[i] = nil
		if !l.holds(c) {
			continue // it left: its goroutine sends them before anything else
		}
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(c.lp.rio.fd), nil)
		l.release(c.lp.slot)
		l.s.handoffs[handoffWait].Add(1)
		go l.serveFn(c)
	}
	b.unsent = b.unsent[:0]
	b.sendMu.Unlock()
}

// sendBatched sends the pass's batch now: before c leaves the loop or ends,
// and before a direct write that must come after the batched ones.
func (l *eventLoop) sendBatched() {
	if l.batch != nil {
		l.batch.send(l.s)
	}
}

// holdSends stops the loops' passes until the returned function is called,
// so that no loop holds a reply for a socket closed meanwhile (closeConns).
func (ls *eventLoops) holdSends() func() {
	if ls == nil {
		return func() {}
	}
	var held []*sync.Mutex
	for _, l := range ls.loops {
		if l.batch != nil {
			l.batch.sendMu.Lock()
			held = append(held, &l.batch.sendMu)
		}
	}
	return func() {
		for _, mu := range held {
			mu.Unlock()
		}
	}
}
