package server

import (
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
)

// budget bounds the memory all connections together hold in buffers for
// large values: values being read for a storage command, and values copied
// into a reply. Without it, each of MaxConns connections could hold an item
// of MaxItemSize at once.
type budget struct {
	limit int64
	used  atomic.Int64
}

// reserve takes n bytes from the budget, or reports false if they are not
// there.
func (b *budget) reserve(n int) bool {
	if b.used.Add(int64(n)) > b.limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

// release gives n bytes back.
func (b *budget) release(n int) { b.used.Add(-int64(n)) }

const (
	// stallLimit is how long a connection may wait for its client while
	// holding large-value budget before, when the budget is spent, it is
	// closed to give the budget back.
	stallLimit = 250 * time.Millisecond
	// budgetWait bounds how long a command waits for large-value budget
	// before it gets memcached's out-of-memory error.
	budgetWait = time.Second
	// budgetPoll is how often a waiting command looks again.
	budgetPoll = 10 * time.Millisecond
)

// reserveLarge takes n bytes from the large-value budget. When the budget
// is spent it waits for room up to budgetWait, closing meanwhile the
// connections that have waited for their clients longer than stallLimit
// while holding budget (a half-sent value, an unread reply), so that slow
// or stalled clients cannot starve the others. It must not be called with
// a store lock held.
func (s *Server) reserveLarge(n int) bool {
	b := &s.bigBuffers
	if b.reserve(n) {
		return true
	}
	if int64(n) > b.limit {
		return false
	}
	deadline := time.Now().Add(budgetWait)
	tick := time.NewTicker(budgetPoll)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		s.reclaimStalled()
		<-tick.C
		if b.reserve(n) {
			return true
		}
	}
	return false
}

// reclaimStalled closes the connections that have held large-value budget
// while waiting for their clients for longer than stallLimit: their next
// read or write fails, which releases what they hold.
func (s *Server) reclaimStalled() {
	cutoff := time.Now().Add(-stallLimit).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if since := c.holdSince.Load(); since != 0 && since < cutoff && c.holdSince.CompareAndSwap(since, 0) {
			s.log.Info("closing connection stalled with large-value budget", "remote", c.nc.RemoteAddr().String())
			_ = c.nc.SetDeadline(time.Unix(1, 0))
		}
	}
}

// Memory beyond MaxBytes. MemoryBound adds these up.
const (
	// LargeValueBudgetCap caps the large-value budget: the budget is half
	// of MaxBytes, at least four items of MaxItemSize, and at most the
	// larger of this cap and four items of MaxItemSize, so it no longer
	// grows with MaxBytes.
	LargeValueBudgetCap = 32 << 20
	// PerConnBytes bounds the buffers one connection holds outside the
	// large-value budget: its read buffer, replies waiting to be written
	// (up to flushThreshold plus one value under largeValue), replies an
	// event loop's batched send left unsent (batchConnBytes), a kept
	// scratch buffer, a storage command's line and the key being decoded,
	// and its goroutine's stack.
	PerConnBytes = readBufferSize + flushThreshold + largeValue + batchConnBytes + retainedBuffer + 2*protocol.MaxLineLength + connStackBytes
	// RuntimeBytes bounds what the process needs whatever its load: the
	// binary's code and data (about 17 MB, about 10 MiB of it resident),
	// the Go runtime, the metrics registry, the idle goroutines and
	// MaxScrapes /metrics requests.
	RuntimeBytes = 32 << 20

	// AdminConnBytes bounds what one admin HTTP connection holds: its
	// read and write buffers, a request's header (MaxHeaderBytes plus
	// net/http's 4 KiB slack, and its parsed copy), a reply, and the
	// goroutine stacks of its handler and background read.
	AdminConnBytes = 64 << 10

	// LoopBytes bounds what one event loop that batches through io_uring
	// holds whatever its connections: the arenas of its receives and of
	// its sends, and its rings (recvBatch, sendBatch, uring).
	LoopBytes = recvArena + batchArena + uringRingBytes

	// The arenas and rings LoopBytes counts.
	recvArena      = 256 << 10 // a pass's receives: recvRoom for each of loopEvents connections
	batchArena     = 64 << 10  // a pass's replies
	uringRingBytes = 32 << 10  // batchEntries submissions of 64 bytes, twice as many completions of 16, and the rings' heads

	// connStackBytes is what a connection's goroutine stack is allowed.
	connStackBytes = 32 << 10
	// batchConnBytes is the most of one connection's replies an event
	// loop's send batch takes (sendBatch): what a full socket buffer
	// leaves of them stays with the connection until it is written.
	batchConnBytes = 16 << 10
)

// largeValueBudget is the budget of the buffers for large values (see
// budget): min(max(MaxBytes/2, 4×MaxItemSize), max(LargeValueBudgetCap,
// 4×MaxItemSize)).
func (c Config) largeValueBudget() int64 {
	four := 4 * int64(c.MaxItemSize)
	return min(max(c.MaxBytes/2, four), max(LargeValueBudgetCap, four))
}

// MemoryBound is the most resident memory a server with this Config uses,
// whatever the load: the store's MaxBytes, plus the large-value budget, plus
// PerConnBytes for each of MaxConns connections, plus AdminConnBytes for
// each of AdminConns admin connections, plus LoopBytes for each event loop
// that batches through io_uring, plus RuntimeBytes.
//
//	bound = -m + min(max(-m/2, 4×-I), max(32 MiB, 4×-I)) + -c × PerConnBytes
//	        + --admin-max-conns × AdminConnBytes + loops × LoopBytes + 32 MiB
//
// With zonecached's defaults (-m 64 -I 1m -c 1024 --admin-max-conns 64)
// that is 64 + 32 + 212 + 4 + 32 MiB, 344 MiB, plus 352 KiB per event loop
// (one per thread, -t); the overhead beyond -m does not depend on -m. The
// bound holds
// when the garbage collector's soft limit is GoMemoryLimit (zonecached sets
// it unless GOMEMLIMIT is given); otherwise the collector may keep garbage
// up to the size of the live Go heap on top. An incr or decr of a number
// padded with spaces to more than 64 KiB briefly copies it too.
func (c Config) MemoryBound() int64 {
	c = c.withDefaults()
	loops := 0
	if !c.DisableIOURing {
		loops = max(c.EventLoops, 0)
	}
	return c.MaxBytes + c.largeValueBudget() + int64(c.MaxConns)*PerConnBytes + int64(max(c.AdminConns, 0))*AdminConnBytes +
		int64(loops)*LoopBytes + RuntimeBytes
}

// GoMemoryLimit is the soft limit for the Go garbage collector
// (debug.SetMemoryLimit) under which MemoryBound holds: everything in
// MemoryBound except the store's item rings, which are mapped outside the
// Go heap.
func (c Config) GoMemoryLimit() int64 {
	c = c.withDefaults()
	rings := c.MaxBytes - store.IndexLimit(c.MaxBytes, c.MaxItemSize)
	return c.MemoryBound() - rings
}
