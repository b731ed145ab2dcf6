package store

// A write's own lock hold copies at most sliceItems items and max(sliceBytes,
// its size) bytes forward. Once the write is done and the lock released, the
// writer frees room ahead of the next writes (tidy) in slices of the same
// size, each under its own hold of the lock, so that no one waits on a copy
// longer than one slice.
const (
	sliceItems = 256
	sliceBytes = 256 << 10
)

// minHeadroom is the least room tidy keeps free at a ring's tail: a write
// of n bytes asks for max(minHeadroom, 2n), at most an eighth of the ring,
// and tidies when less than half of it is free. Small writes then reach the
// room tidy freed while the lines it read there are still in the L1 cache
// (64 KiB cost a read and a write miss per line).
const minHeadroom = 16 << 10

// headroom is the room tidy keeps free after a write of n bytes.
func (sh *shard) headroom(n int) int {
	return min(max(minHeadroom, 2*n), sh.end/8)
}

// tidyRoom is the room to tidy after a write of n bytes: its headroom when
// less than half of that is free and the shard's live data is within the
// compaction share (above it CLOCK evicts at the next write, and there is
// nothing to copy ahead of time), 0 otherwise.
func (sh *shard) tidyRoom(n int) int {
	h := sh.headroom(n)
	if sh.fitsNow(h/2) || sh.bytes*compactDen > int64(sh.end)*compactNum {
		return 0
	}
	return h
}

// tidy frees want bytes at the tail of the ring, or as much of it as
// max(maxCompactBytes, compactFactor*want) copied bytes allow, one slice per
// hold of the shard lock: it drops dead and expired items at head and
// copies live ones forward while the live data is within the compaction
// share. It never evicts a live item.
func (sh *shard) tidy(s *Store, want int) {
	budget := max(maxCompactBytes, compactFactor*want)
	for budget > 0 {
		now := s.nowSec()
		sh.mu.Lock()
		if sh.closed {
			sh.mu.Unlock()
			return
		}
		sh.checkFlush(now)
		copied, done := sh.tidySlice(want, now)
		sh.mu.Unlock()
		if done {
			return
		}
		budget -= max(copied, 1)
	}
}

// tidySlice is one slice of tidy, at most sliceItems items: it reports
// the bytes it copied and whether tidy is done (want bytes free, or nothing
// more it may do).
func (sh *shard) tidySlice(want int, now uint32) (int, bool) {
	c := compactor{bytes: sliceBytes, items: sliceItems}
	if sh.bytes*compactDen > int64(sh.end)*compactNum {
		c = compactor{}
	}
	copied := 0
	for left := sliceItems; !sh.fitsNow(want); left-- {
		if left == 0 {
			return copied, false
		}
		if !sh.wrapped { // as alloc: wrap when the end has no room
			sh.wrapEnd, sh.tail, sh.wrapped = sh.tail, 0, true
			continue
		}
		p := sh.head
		if sh.buf[p+offBits]&bitDead != 0 {
			sh.dropDeadHead(itemLen(sh.buf, p))
			continue
		}
		if expiredAt(le.Uint32(sh.buf[p+offExpires:]), now) {
			sh.evictHead(now, false) // drops: nothing live is evicted
			continue
		}
		n := itemLen(sh.buf, p)
		if c.items == sliceItems && c.bytes > 0 {
			c.bytes = max(c.bytes, n) // one item per slice, whatever its size
		}
		if !sh.compactHead(&c, now) {
			return copied, copied == 0 // out of budget: go on in the next slice, if this one could copy
		}
		copied += n
	}
	return copied, true
}
