package sharding

import (
	"math"
	"math/bits"
)

// scanWidth is the number of entries that circle.next compares without
// branching; buckets with more points fall back to a binary search.
const scanWidth = 4

// circle is the lookup structure of a ring: the sorted points and a bucket
// table that narrows a search to the few points of one slice of the circle.
type circle struct {
	// ent holds one entry per distinct point, pos<<32 | owner, sorted, then
	// scanWidth padding entries of MaxUint64 so that a scan from any start
	// index stays in bounds. Padding never compares below a key.
	ent []uint64
	// n is the number of real points (len(ent) - scanWidth).
	n int
	// bucket[b] is the index of the first point with pos >= b<<shift, for b in
	// 0..2^(32-shift); the last entry is n.
	bucket []uint32
	shift  uint
}

// newCircle builds a circle from entries pos<<32 | owner, sorted, with
// distinct positions. It appends the padding to ent.
func newCircle(ent []uint64) circle {
	c := circle{n: len(ent)}
	for range scanWidth {
		ent = append(ent, math.MaxUint64)
	}
	c.ent = ent
	// At least as many buckets as points (a power of two), so that most
	// buckets hold at most scanWidth points.
	b := 0
	if c.n > 1 {
		b = bits.Len(uint(c.n - 1))
	}
	c.shift = uint(32 - b)
	c.bucket = make([]uint32, (1<<b)+1)
	j := 0
	for k := range 1 << b {
		lo := uint64(k) << c.shift
		for j < c.n && ent[j]>>32 < lo {
			j++
		}
		c.bucket[k] = uint32(j)
	}
	c.bucket[1<<b] = uint32(c.n)
	return c
}

// next returns the entry of the first point at or after h, wrapping to the
// first point. The circle must not be empty.
func (c *circle) next(h uint32) uint64 {
	b := h >> c.shift
	lo, hi := int(c.bucket[b]), int(c.bucket[b+1])
	hk := uint64(h) << 32
	i := lo
	if hi-lo <= scanWidth {
		// The points in [lo, hi) are the bucket's and lie below the next
		// bucket; entries from hi on are >= the next bucket's start > h. So
		// the number of entries in [lo, lo+scanWidth) below hk is the
		// offset of the answer. Counting compiles to flag arithmetic, not
		// branches.
		e := c.ent[lo : lo+scanWidth : lo+scanWidth]
		i += b2i(e[0] < hk) + b2i(e[1] < hk) + b2i(e[2] < hk) + b2i(e[3] < hk)
	} else {
		for i < hi {
			mid := int(uint(i+hi) >> 1)
			if c.ent[mid] < hk {
				i = mid + 1
			} else {
				hi = mid
			}
		}
	}
	if i >= c.n {
		i = 0
	}
	return c.ent[i]
}

// b2i is 1 for true and 0 for false.
func b2i(b bool) int {
	var i int
	if b {
		i = 1
	}
	return i
}
