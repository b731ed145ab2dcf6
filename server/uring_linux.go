package server

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// uring is the little of io_uring an event loop needs: a submission ring
// of sends and the completion ring of their results, entered with one
// system call for a whole batch (sendBatch). The structures below mirror
// Linux's include/uapi/linux/io_uring.h; no liburing is needed.
type uring struct {
	fd      int
	sqHead  *uint32
	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	sqes    []uringSQE
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []uringCQE
	ringMem []byte
	sqeMem  []byte
	gen     uint32 // the call of all, in the completions' user data
}

// uringSQE is struct io_uring_sqe (64 bytes).
type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

// uringCQE is struct io_uring_cqe (16 bytes).
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, _ uint32
	_                                                           uint64
}

type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, _ uint32
	_                                                           uint64
}

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	_                                                                      [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

const (
	uringOpSend           = 26 // IORING_OP_SEND, Linux 5.6
	uringOpRecv           = 27 // IORING_OP_RECV, Linux 5.6
	uringEnterGetEvents   = 1  // IORING_ENTER_GETEVENTS
	uringFeatSingleMmap   = 1  // IORING_FEAT_SINGLE_MMAP, Linux 5.4
	uringFeatNoDrop       = 2  // IORING_FEAT_NODROP, Linux 5.5
	uringFeatRWCurPos     = 8  // IORING_FEAT_RW_CUR_POS, Linux 5.6, as IORING_OP_SEND and IORING_OP_RECV
	uringSetupCoopTaskrun = 1 << 8
	uringOffSQRing        = 0
	uringOffSQEs          = 0x10000000
)

// errUringUnavailable is returned by newUring when the kernel has no
// io_uring, refuses it (sysctl kernel.io_uring_disabled, a seccomp
// filter) or lacks a feature the loop relies on.
var errUringUnavailable = errors.New("io_uring unavailable")

// newUring sets up a ring of entries submissions (a power of two).
func newUring(entries uint32) (*uring, error) {
	var p uringParams
	p.flags = uringSetupCoopTaskrun // no interrupt of the thread to run completions: it waits for them itself
	fd, _, e := syscall.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e == syscall.EINVAL { // a kernel before 5.19
		p = uringParams{}
		fd, _, e = syscall.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	if e != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup: %w", errUringUnavailable, e)
	}
	const need = uringFeatSingleMmap | uringFeatNoDrop | uringFeatRWCurPos
	if p.features&need != need {
		unix.Close(int(fd))
		return nil, fmt.Errorf("%w: kernel before 5.6", errUringUnavailable)
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	mem, err := unix.Mmap(int(fd), uringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("io_uring: mmap: %w", err)
	}
	sqeMem, err := unix.Mmap(int(fd), uringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		_ = unix.Munmap(mem)
		unix.Close(int(fd))
		return nil, fmt.Errorf("io_uring: mmap: %w", err)
	}
	u := &uring{fd: int(fd), ringMem: mem, sqeMem: sqeMem}
	base := unsafe.Pointer(&mem[0])
	u.sqHead = (*uint32)(unsafe.Add(base, p.sqOff.head))
	u.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	u.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	u.sqArray = unsafe.Slice((*uint32)(unsafe.Add(base, p.sqOff.array)), p.sqEntries)
	u.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqeMem[0])), p.sqEntries)
	u.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	u.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	u.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	u.cqes = unsafe.Slice((*uringCQE)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	return u, nil
}

// close releases the ring; no submission may be in flight.
func (u *uring) close() {
	_ = unix.Munmap(u.sqeMem)
	_ = unix.Munmap(u.ringMem)
	unix.Close(u.fd)
}

// entries is the most operations one sendAll or recvAll takes.
func (u *uring) entries() int { return len(u.sqes) }

// sendAll sends each of ps on the socket of the same index in fds with
// MSG_DONTWAIT, in one system call, and stores each send's result (bytes
// sent, or a negated errno such as -EAGAIN for a full socket buffer) in
// res. The buffers must stay unchanged until it returns, which it does
// once every send taken by the kernel has completed: a send that does not
// wait completes within the call. An error means the ring failed; res then
// holds notSent for the sends that did not happen.
func (u *uring) sendAll(fds []int32, ps [][]byte, res []int32) error {
	return u.all(uringOpSend, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, fds, ps, res)
}

// recvAll receives into each of ps from the socket of the same index in
// fds with MSG_DONTWAIT, in one system call, as sendAll sends: res holds
// the bytes received (0 at the end of the stream) or a negated errno
// (-EAGAIN for an empty socket).
func (u *uring) recvAll(fds []int32, ps [][]byte, res []int32) error {
	return u.all(uringOpRecv, unix.MSG_DONTWAIT, fds, ps, res)
}

// all submits one op per socket and waits for their completions.
func (u *uring) all(op uint8, flags uint32, fds []int32, ps [][]byte, res []int32) error {
	n := uint32(len(fds))
	u.gen++
	tail := atomic.LoadUint32(u.sqTail)
	for i := range n {
		j := (tail + i) & u.sqMask
		p := ps[i]
		u.sqes[j] = uringSQE{opcode: op, fd: fds[i], addr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p)))),
			len: uint32(len(p)), msgFlags: flags, userData: uint64(u.gen)<<32 | uint64(i)}
		u.sqArray[j] = j
		res[i] = notSent
	}
	atomic.StoreUint32(u.sqTail, tail+n)
	var submitted, got uint32
	var err error
	for retries := 0; got < n; retries++ {
		toSubmit := n - submitted
		if err != nil {
			toSubmit = 0 // only wait for what the kernel took
			if got == submitted {
				break
			}
		}
		r, _, e := syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(u.fd), uintptr(toSubmit), uintptr(submitted+toSubmit-got), uringEnterGetEvents, 0, 0)
		switch {
		case e == 0:
			submitted += uint32(r)
		case err != nil:
			got = n // the ring is broken: stop here
		case (e == syscall.EINTR || e == syscall.EAGAIN || e == syscall.EBUSY) && retries < uringRetries:
		default:
			err = fmt.Errorf("io_uring_enter: %w", e)
		}
		head := atomic.LoadUint32(u.cqHead)
		for cqTail := atomic.LoadUint32(u.cqTail); head != cqTail; head++ {
			c := &u.cqes[head&u.cqMask]
			if i := uint32(c.userData); c.userData>>32 == uint64(u.gen) && i < n && res[i] == notSent {
				res[i] = c.res
				got++
			}
		}
		atomic.StoreUint32(u.cqHead, head)
	}
	if submitted < n {
		// Never taken by the kernel: take them back, so that no later
		// call sends them.
		atomic.StoreUint32(u.sqTail, tail+submitted)
		if err == nil {
			err = fmt.Errorf("io_uring_enter: %d of %d sends not taken", n-submitted, n)
		}
	}
	return err
}

// notSent marks an operation all did not make.
const notSent = -1 << 31

// uringRetries bounds the retries of an interrupted or busy enter.
const uringRetries = 1000
