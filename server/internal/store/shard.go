package store

import (
	"os"
	"slices"
	"sync"
	"unsafe"
)

// maxMoves bounds how many recently read items one allocation may move to
// the ring's tail (a second chance) before it evicts regardless, so a write
// never does more than a bounded amount of work under the shard lock.
const maxMoves = 16

// maxMoveBytes bounds the bytes one allocation may move for second chances.
const maxMoveBytes = 256 << 10

// While a shard's live bytes stay at or below compactNum/compactDen of its
// ring, an allocation copies live items at head forward (compaction)
// instead of evicting them, so overwritten copies, not live items, make
// room. Above that share CLOCK evicts as before.
const compactNum, compactDen = 14, 15

// maxCompactBytes and compactFactor bound the bytes tidy may copy forward
// after a write that asks for want bytes of room: max(maxCompactBytes,
// compactFactor*want), a slice per lock hold. At the compaction limit
// freeing a byte takes copying about 14.
const (
	maxCompactBytes = 512 << 10
	compactFactor   = 16
)

// pageSize is the system's memory page: releasing ring memory to the
// system takes whole pages.
var pageSize = os.Getpagesize()

// maxIndexEvictions bounds the items one insert evicts at the ring's head
// to make room for the index.
const maxIndexEvictions = 256

// maxKeptScratch is the largest scratch buffer a shard keeps between writes.
const maxKeptScratch = 64 << 10

// indexGrowth is the factor (5/4) by which a full index table grows: small
// steps keep the average load near 80 %, at the price of rehashing each
// entry about four times over its life.
const indexGrowthNum, indexGrowthDen = 5, 4

// shard is one lock's worth of the store: a ring of items and its index.
//
// The shard's budget (limit) holds both: the index takes what it needs and
// the ring the rest, up to end, which leaves room for the index's next
// growth step (see setEnd). The ring is a circular log. Items are written
// at tail and never span end, or wrapAt while the live data is small: when
// an item does not fit before it, the ring wraps and [wrapEnd, end) stays
// unused. Unwrapped, the items lie in [head, tail);
// wrapped, in [head, wrapEnd) and then [0, tail), and the free space is
// [tail, head). Deleted and replaced items stay in the ring, marked dead,
// until head passes them. When space is needed the item at head is dropped
// if dead or expired. A live one is copied to tail (compaction) while the
// shard's live data is within the compaction share; above it, it is dropped
// if unread since last stored or moved, and otherwise moved to tail with its
// reference bit cleared (CLOCK, an approximate LRU).
type shard struct {
	mu sync.Mutex

	buf      []byte // ring, outside the Go heap on Linux: the whole budget's address space
	limit    int    // the shard's budget: ring bytes touched (hwm) plus index bytes
	end      int    // where the ring wraps: limit less the index's next size
	head     int
	tail     int
	wrapEnd  int
	wrapped  bool
	hwm      int // highest ring offset written since last released: the touched arena
	ix       index
	maxGroup int // index footprint cap, in groups (index.footprint)
	maxItems int // items the capped index can hold

	bytes        int64  // sum of ItemSize over indexed items
	pendingFlush uint32 // Unix second of a delayed flush, 0 if none
	closed       bool

	totalItems       uint64
	evictions        uint64
	evictedUnfetched uint64
	reclaimed        uint64
	expiredUnfetched uint64
	getExpired       uint64

	sweepPos int      // where in the index the sweeper goes on
	steps    uint64   // items rehashed, copied or evicted: tests bound it per lock hold
	entry    Entry    // scratch Entry handed to callbacks, under mu
	scratch  []byte   // copy of a value whose parts alias the ring
	ages     []uint64 // scratch of evictOldest
	one      [1][]byte

	_ [64]byte // keep neighbouring shards' locks off this cache line
}

// init sets the shard up on buf with an index of at most maxGroups groups,
// tables' headers included.
func (sh *shard) init(buf []byte, maxGroups int) {
	sh.buf = buf
	sh.limit = len(buf)
	sh.maxGroup = maxGroups
	sh.maxItems = maxGroups * groupSlots * 7 / 8
	sh.ix.init()
	sh.setEnd()
}

// setEnd places the ring's end so that the index can grow by a quarter in
// the budget: the ring wraps there from now on, and items written past it
// before go when head reaches them.
func (sh *shard) setEnd() {
	fp := sh.ix.footprint()
	next := min(sh.maxGroup, fp+fp/4+2)
	sh.end = min(len(sh.buf), sh.limit-next*bytesPerGroup)
}

// top is the end of the ring's items: nothing above it is in use.
func (sh *shard) top() int {
	if sh.wrapped {
		return sh.wrapEnd
	}
	return sh.tail
}

// indexFits reports whether an index of groups groups fits in the budget
// beside the ring's items; if so, it releases the ring's touched pages the
// index is to take (all but the part of a page below them).
func (sh *shard) indexFits(groups int) bool {
	room := sh.limit - groups*bytesPerGroup
	if sh.top() > room {
		return false
	}
	if sh.hwm > room {
		if from := (room + pageSize - 1) / pageSize * pageSize; from < sh.hwm {
			releaseArena(sh.buf[from:sh.hwm])
		}
		sh.hwm = room
	}
	return true
}

// reset drops every item: an immediate flush.
func (sh *shard) reset() {
	sh.reclaimed += uint64(sh.ix.count)
	sh.head, sh.tail, sh.wrapEnd, sh.wrapped = 0, 0, 0, false
	sh.bytes = 0
	releaseArena(sh.buf[:sh.hwm])
	sh.hwm = 0
	sh.ix.init()
	sh.setEnd()
}

// checkFlush applies a delayed flush whose time has come. It runs before
// anything else under the lock, so every item in the shard was stored
// before the deadline.
func (sh *shard) checkFlush(now uint32) {
	if sh.pendingFlush != 0 && now >= sh.pendingFlush {
		sh.pendingFlush = 0
		sh.reset()
	}
}

// While a shard's live data is small, its ring wraps before end, at
// max(minRing, ringFactor times the live bytes): writes then reuse memory
// the ring has already touched, warm in the caches, instead of walking the
// whole budget's fresh pages between two visits of the same place. Live
// items make at most 1/ringFactor of such a ring when it wraps, so
// compaction copies about 1/(ringFactor-1) of a byte per byte written, or
// less.
const (
	minRing    = 256 << 10
	ringFactor = 8
)

// wrapAt is where the ring wraps for an item of n bytes: end, or before it
// while the live data is small.
func (sh *shard) wrapAt(n int) int {
	return int(min(int64(sh.end), max(minRing, ringFactor*sh.bytes+int64(n))))
}

// fitsNow reports whether n bytes can be placed without evicting.
func (sh *shard) fitsNow(n int) bool {
	if sh.wrapped {
		return sh.head-sh.tail >= n
	}
	return sh.wrapAt(n)-sh.tail >= n || sh.head >= n
}

// alloc reserves n contiguous ring bytes at tail, evicting from head as
// needed, and returns their offset. n must not exceed sh.end. evicted
// is set when any item was dropped or moved.
func (sh *shard) alloc(n int, now uint32, evicted *bool) int {
	var mv mover
	cp := sh.newCompactor(n)
	for {
		if !sh.wrapped {
			if sh.wrapAt(n)-sh.tail >= n {
				break
			}
			sh.wrapEnd, sh.tail, sh.wrapped = sh.tail, 0, true
			continue
		}
		if sh.head-sh.tail >= n {
			break
		}
		*evicted = true
		if sh.compactHead(&cp, now) {
			continue
		}
		mv.note(sh.evictHead(now, mv.allowed()))
	}
	off := sh.tail
	sh.tail += n
	sh.hwm = max(sh.hwm, sh.tail)
	return off
}

// advanceHead moves head past an item of n bytes.
func (sh *shard) advanceHead(n int) {
	sh.head += n
	if sh.wrapped {
		if sh.head == sh.wrapEnd {
			sh.head, sh.wrapEnd, sh.wrapped = 0, 0, false
		}
	}
	if !sh.wrapped && sh.head == sh.tail {
		sh.head, sh.tail = 0, 0
	}
}

// mover bounds the second chances one write may give: at most maxMoves
// items and maxMoveBytes bytes copied, so that a write holds the shard lock
// for a bounded time even when the oldest items are big and recently read.
type mover struct{ moves, bytes int }

func (m *mover) allowed() bool { return m.moves < maxMoves && m.bytes < maxMoveBytes }

func (m *mover) note(moved int) {
	if moved > 0 {
		m.moves++
		m.bytes += moved
	}
}

// compactor is what one allocation may still copy forward.
type compactor struct{ bytes, items int }

// newCompactor returns the compaction budget of an allocation of n bytes,
// one slice: none when the shard's live data, with the new item, is above
// the compaction share of the ring.
func (sh *shard) newCompactor(n int) compactor {
	if (sh.bytes+int64(n))*compactDen > int64(sh.end)*compactNum {
		return compactor{}
	}
	return compactor{bytes: max(sliceBytes, n), items: sliceItems}
}

// compactHead copies the item at head to tail, keeping its bits, when it
// is live and unexpired and the budget allows; it reports whether it did.
func (sh *shard) compactHead(c *compactor, now uint32) bool {
	p := sh.head
	n := itemLen(sh.buf, p)
	if c.items == 0 || n > c.bytes {
		return false
	}
	if sh.buf[p+offBits]&bitDead != 0 || expiredAt(le.Uint32(sh.buf[p+offExpires:]), now) {
		return false
	}
	c.items--
	c.bytes -= n
	sh.moveHead(p, n)
	return true
}

// evictHead frees or moves the item at head and returns the number of bytes
// it moved (0 when it freed the item). The ring must not be empty.
func (sh *shard) evictHead(now uint32, allowMove bool) int {
	p := sh.head
	n := itemLen(sh.buf, p)
	b := sh.buf[p+offBits]
	if b&bitDead != 0 {
		sh.dropDeadHead(n)
		return 0
	}
	expired := expiredAt(le.Uint32(sh.buf[p+offExpires:]), now)
	if !expired && allowMove && b&bitRef != 0 {
		sh.buf[p+offBits] = b &^ bitRef
		sh.moveHead(p, n)
		return n
	}
	sh.steps++
	if slot, ok := sh.ix.slotOf(hashKey(itemKey(sh.buf, p)), uint32(p)); ok {
		sh.evictSlot(slot, p, expired)
	}
	sh.advanceHead(n)
	return 0
}

// dropDeadHead frees the dead item at head, n bytes.
func (sh *shard) dropDeadHead(n int) {
	sh.steps++
	sh.advanceHead(n)
}

// evictSlot drops the indexed item at off to make room, counting it as
// reclaimed if expired and as evicted otherwise.
func (sh *shard) evictSlot(slot, off int, expired bool) {
	b := sh.buf[off+offBits]
	sh.removeSlot(slot, off, expired)
	if !expired {
		sh.evictions++
		if b&bitFetched == 0 {
			sh.evictedUnfetched++
		}
	}
}

// moveHead copies the live item at head (offset p, n bytes) to tail and
// points its index slot at the new place.
func (sh *shard) moveHead(p, n int) {
	sh.steps++
	if !sh.wrapped && sh.wrapAt(n)-sh.tail < n {
		sh.wrapEnd, sh.tail, sh.wrapped = sh.tail, 0, true
	}
	dst := sh.tail
	if dst != p {
		copy(sh.buf[dst:dst+n], sh.buf[p:p+n]) // memmove: may overlap
	}
	if slot, ok := sh.ix.slotOf(hashKey(itemKey(sh.buf, dst)), uint32(p)); ok {
		sh.ix.setOff(slot, uint32(dst))
	}
	sh.tail += n
	sh.hwm = max(sh.hwm, sh.tail)
	sh.advanceHead(n)
}

// removeSlot drops the indexed item at off: a delete, or an expired item
// found on access (reclaim true).
func (sh *shard) removeSlot(slot int, off int, reclaim bool) {
	b := sh.buf[off+offBits]
	sh.buf[off+offBits] = b | bitDead
	sh.bytes -= int64(itemLen(sh.buf, off))
	sh.ix.remove(slot)
	if reclaim {
		sh.reclaimed++
		if b&bitFetched == 0 {
			sh.expiredUnfetched++
		}
	}
}

// makeIndexRoom readies the table of h for one more key, before an
// insert: when the table is at its load limit it rebuilds it at the same
// size if tombstones filled it, and otherwise grows it by indexGrowth, or
// splits it past tableMaxGroups, while the index's cap and the budget
// beside the ring allow. When it cannot grow, it first evicts at the ring's
// head (at most maxIndexEvictions items) if the ring is in the index's way,
// then the table's oldest items, down to 7/8 of its load limit, so that
// the table stays nearly full and the next rebuild some way off. Either way the work is bounded by
// one table's size. It reports whether it evicted.
func (sh *shard) makeIndexRoom(h uint64, now uint32) bool {
	ix := &sh.ix
	t := ix.tableOf(h)
	tb := ix.dir[t]
	if tb.count+tb.tombs < tb.maxLoad() {
		return false
	}
	keep := tb.maxLoad() * 3 / 4
	if tb.count+1 > keep && sh.growTable(t) {
		sh.setEnd()
		return false
	}
	evicted := false
	if tb.count+1 > keep {
		target := tb.maxLoad() * 7 / 8 // an eighth of the table's keys go
		if fp := ix.footprint(); fp+fp/8+2 <= sh.maxGroup {
			// The ring is in the way: evict at head, so that the ring
			// wraps below the index's room sooner.
			var mv mover
			for i := 0; i < maxIndexEvictions && tb.count+1 > target && ix.count > 0; i++ {
				mv.note(sh.evictHead(now, mv.allowed()))
			}
		}
		if tb.count+1 > target {
			sh.evictOldest(t, tb.count+1-target, now)
		}
		evicted = true
	}
	sh.steps += uint64(ix.resize(t, tb.groups(), sh.buf))
	return evicted
}

// growTable grows the table of directory entry t by indexGrowth, or splits
// it once it has tableMaxGroups groups, if the index's cap and the budget
// beside the ring allow; it reports whether it did.
func (sh *shard) growTable(t int) bool {
	ix := &sh.ix
	fits := func(grow int) bool {
		total := ix.footprint() + grow
		return total <= sh.maxGroup && sh.indexFits(total)
	}
	tb := ix.dir[t]
	if tb.groups() >= tableMaxGroups && tb.depth < maxDepth {
		moved, ok := ix.split(t, sh.buf, fits)
		sh.steps += uint64(moved)
		return ok
	}
	next := max(tb.groups()+1, tb.groups()*indexGrowthNum/indexGrowthDen)
	if tb.depth < maxDepth {
		next = min(next, tableMaxGroups)
	}
	if !fits(next - tb.groups()) {
		return false
	}
	sh.steps += uint64(ix.resize(t, next, sh.buf))
	return true
}

// evictOldest evicts the n items of table t nearest the ring's head (the
// oldest written or moved), or all of them if it holds fewer.
func (sh *shard) evictOldest(t, n int, now uint32) {
	tb := sh.ix.dir[t]
	ages := sh.ages[:0]
	tb.forGroups(0, tb.groups(), func(slot int, off uint32) {
		ages = append(ages, uint64(sh.age(int(off)))<<slotShift|uint64(slot))
	})
	slices.Sort(ages)
	for _, a := range ages[:min(n, len(ages))] {
		slot := int(a & slotMask)
		off := int(tb.off(slot))
		sh.evictSlot(t<<slotShift|slot, off, expiredAt(le.Uint32(sh.buf[off+offExpires:]), now))
	}
	sh.steps += uint64(len(ages))
	sh.ages = ages[:0]
}

// age is how many ring bytes lie between head and the item at off.
func (sh *shard) age(off int) int {
	if off >= sh.head {
		return off - sh.head
	}
	return sh.wrapEnd - sh.head + off
}

// aliasesRing reports whether any part points into the ring.
func (sh *shard) aliasesRing(parts [][]byte) bool {
	if len(sh.buf) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(sh.buf)))
	hi := lo + uintptr(len(sh.buf))
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		a := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
		if a >= lo && a < hi {
			return true
		}
	}
	return false
}

// stabilize copies parts into the shard's scratch buffer and returns them
// as one part, so that evictions cannot overwrite them before they are
// written.
func (sh *shard) stabilize(parts [][]byte, total int) [][]byte {
	if cap(sh.scratch) < total {
		sh.scratch = make([]byte, 0, total)
	}
	s := sh.scratch[:0]
	for _, p := range parts {
		s = append(s, p...)
	}
	sh.one[0] = s
	return sh.one[:]
}

// store writes a new item for key (hash h), replacing the indexed item in
// slot when found, and returns its offset. It also returns the room to free
// ahead of the next writes (tidy), if any.
func (sh *shard) store(st *Store, h uint64, key []byte, slot int, found bool, op *Op, now uint32) (int, int, error) {
	total := 0
	for _, p := range op.Value {
		total += len(p)
	}
	size := ItemSize(len(key), total)
	if LimitedSize(len(key), total) > st.maxItemSize || total > maxValueLen {
		return 0, 0, ErrTooLarge
	}
	if size > sh.end {
		return 0, 0, ErrNoMemory
	}
	parts := op.Value
	needEvict := (!found && sh.ix.full(h)) || !sh.fitsNow(size)
	if needEvict && sh.aliasesRing(parts) {
		parts = sh.stabilize(parts, total)
	}
	evicted := false
	if !found {
		evicted = sh.makeIndexRoom(h, now)
	}
	off := sh.alloc(size, now, &evicted)

	m := op.Meta
	if m.CAS == 0 {
		m.CAS = st.nextCAS()
	}
	m.Stored, m.Accessed = int64(now), int64(now)
	buf := sh.buf
	buf[off+offBits] = 0
	writeMeta(buf, off, &m)
	le.PutUint32(buf[off+offVLen:], uint32(total))
	buf[off+offKLen] = uint8(len(key))
	w := off + itemHeaderSize
	w += copy(buf[w:], key)
	for _, p := range parts {
		w += copy(buf[w:], p)
	}

	if evicted {
		slot, found = sh.ix.lookup(buf, h, key)
	}
	if found {
		old := int(sh.ix.off(slot))
		buf[old+offBits] |= bitDead
		sh.bytes -= int64(itemLen(buf, old))
		sh.ix.setOff(slot, uint32(off))
	} else {
		sh.ix.insert(h, uint32(off))
	}
	sh.bytes += int64(size)
	sh.totalItems++
	sh.one[0] = nil
	if cap(sh.scratch) > maxKeptScratch {
		sh.scratch = nil // do not keep a big item's copy per shard
	}
	return off, sh.tidyRoom(size), nil
}

// bump records a read of the item at off.
func (sh *shard) bump(off int, now uint32) {
	b := sh.buf[off+offBits]
	if nb := b | bitFetched | bitRef; nb != b {
		sh.buf[off+offBits] = nb
	}
	if le.Uint32(sh.buf[off+offAccessed:]) != now {
		le.PutUint32(sh.buf[off+offAccessed:], now)
	}
}

// walk calls fn for each item in the ring, oldest first, until fn returns
// false.
func (sh *shard) walk(fn func(off int) bool) bool {
	visit := func(from, to int) bool {
		for p := from; p < to; {
			n := itemLen(sh.buf, p)
			if !fn(p) {
				return false
			}
			p += n
		}
		return true
	}
	if sh.wrapped {
		return visit(sh.head, sh.wrapEnd) && visit(0, sh.tail)
	}
	return visit(sh.head, sh.tail)
}
