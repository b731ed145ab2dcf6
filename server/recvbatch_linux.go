package server

import (
	"fmt"
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// recvBatch reads the sockets a loop's wait found readable with one
// io_uring system call at the start of a pass, instead of a read(2) each
// in the connections' steps: each receive takes up to recvRoom bytes into
// the loop's arena, and the connection's Read returns them first
// (rawIO.staged). A receive that filled its room may have left more in
// the socket, which the connection then reads directly; one that got less
// drained the socket, as a short read does.
//
// Only connections with nothing buffered receive, so a step reads all its
// staged bytes at its first read. Staged bytes point into the arena, which
// the next pass reuses: a connection that leaves the loop takes a copy of
// what it has not read (eventLoop.release); one the pass did not step
// (its runner left the loop with a command that must wait) keeps a copy
// and is stepped in the next pass, since its socket no longer reports
// them (eventLoop.endRecv).
type recvBatch struct {
	arena []byte
	conns []*conn // received for in this pass
	fds   []int32
	ps    [][]byte
	res   []int32
}

const (
	// recvRoom is what one connection's batched receive may take: a
	// request or a pipeline of small ones. Larger input is read
	// directly after it.
	recvRoom = 2 << 10
)

// A pass receives for every connection a wait may return (recvArena is in
// budget.go, counted in LoopBytes).
var _ = [1]struct{}{}[recvArena/recvRoom-loopEvents]

func newRecvBatch(entries int) (*recvBatch, error) {
	arena, err := mapArena(recvArena)
	if err != nil {
		return nil, err
	}
	return &recvBatch{arena: arena, conns: make([]*conn, 0, entries),
		fds: make([]int32, 0, entries), ps: make([][]byte, 0, entries), res: make([]int32, entries)}, nil
}

// close unmaps the arena; no connection reads staged bytes any more.
func (b *recvBatch) close() { _ = unix.Munmap(b.arena) }

// recvReady receives for the connections of the first n events of the
// runner's wait that the loop holds, with one system call.
func (l *eventLoop) recvReady(r *runner, n int) {
	b := l.recv
	if b == nil || l.batch.broken {
		return
	}
	limit := min(len(b.arena)/recvRoom, l.batch.ring.entries())
	b.fds, b.ps = b.fds[:0], b.ps[:0]
	for i := 0; i < n && len(b.conns) < limit; i++ {
		ev := &r.events[i]
		if ev.Fd == wakeSlot {
			continue
		}
		c := l.at(ev.Fd)
		if c == nil || c.lp.gen != uint32(ev.Pad) {
			continue
		}
		rio := c.lp.rio
		if rio.staged != nil || rio.stagedErr != nil || c.r != nil && c.r.Buffered() > 0 {
			// Bytes to read first: staged in an earlier pass, or
			// commands buffered whole that its step runs before it
			// reads again (it may stop at loopStepCommands first).
			continue
		}
		off := len(b.conns) * recvRoom
		b.conns = append(b.conns, c)
		b.fds = append(b.fds, int32(rio.fd))
		b.ps = append(b.ps, b.arena[off:off+recvRoom:off+recvRoom])
	}
	if len(b.conns) == 0 {
		return
	}
	err := l.batch.ring.recvAll(b.fds, b.ps, b.res[:len(b.conns)])
	if err != nil {
		l.batch.broken = true
		l.s.log.Warn("event loop: io_uring failed; replies are written and requests read one by one from now on", "err", err)
	}
	for i, c := range b.conns {
		rio := c.lp.rio
		switch res := b.res[i]; {
		case res > 0:
			rio.staged, rio.stagedMore = b.ps[i][:res], int(res) == recvRoom
		case res == 0:
			rio.stagedErr = io.EOF
		case res == -int32(syscall.EAGAIN) || res == -int32(syscall.EINTR) || res == notSent:
			// nothing read: Read reads the socket itself
		default:
			rio.stagedErr = fmt.Errorf("read: %w", syscall.Errno(-res))
		}
	}
}

// keepStaged gives c's staged bytes a buffer of their own, out of the
// loop's arena, before it leaves the loop or the pass ends.
func (r *rawIO) keepStaged() {
	if len(r.staged) > 0 {
		r.staged = append([]byte(nil), r.staged...)
	}
}

// endRecv ends the pass's receives: a connection still holding staged
// bytes keeps a copy and is stepped again next pass, since its socket no
// longer reports them.
func (l *eventLoop) endRecv() {
	b := l.recv
	if b == nil {
		return
	}
	for i, c := range b.conns {
		b.conns[i] = nil
		rio := c.lp.rio
		if rio.staged == nil && rio.stagedErr == nil || !l.holds(c) {
			continue
		}
		rio.keepStaged()
		l.again = append(l.again, c)
		l.s.restaged.Add(1)
	}
	b.conns = b.conns[:0]
}
