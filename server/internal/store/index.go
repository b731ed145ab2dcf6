package store

import (
	"bytes"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// index maps keys to item offsets in one shard's ring. It is an open
// addressing table in the style of Swiss tables: groups of 8 slots, each
// group five uint64 words (40 bytes, one cache line or two): a control word
// with one byte per slot (a 7-bit hash tag, empty or deleted), then the
// slots' 32-bit ring offsets, two per word. A lookup thus touches one group's
// memory, not a control array and an offset array. The table holds no Go
// pointers, so the garbage collector never scans it, and it costs 5 bytes
// per slot. Keys are not stored here: a tag match is confirmed by comparing
// the full key in the ring, so hash collisions are handled.
//
// Group counts need not be powers of two (the home group is found by
// multiply-shift), which lets the table grow by 1.5x and keeps the average
// load near 70 %.
type index struct {
	words []uint64 // groupWords per group: control word, then offsets
	count int      // full slots
	tombs int      // deleted slots
}

const (
	groupSlots    = 8
	ctrlEmpty     = 0x80
	ctrlDeleted   = 0xFE
	lsbs          = 0x0101010101010101
	msbs          = 0x8080808080808080
	minGroups     = 4
	groupWords    = 1 + groupSlots/2
	bytesPerGroup = 8 * groupWords
)

// groups is the number of groups.
func (ix *index) groups() int { return len(ix.words) / groupWords }

// ctrl is group g's control word.
func (ix *index) ctrl(g int) uint64 { return ix.words[g*groupWords] }

func (ix *index) setCtrlWord(g int, w uint64) { ix.words[g*groupWords] = w }

// off is the ring offset in slot.
func (ix *index) off(slot int) uint32 {
	g, i := slot/groupSlots, slot%groupSlots
	return uint32(ix.words[g*groupWords+1+i/2] >> (32 * uint(i%2)))
}

// setOff stores a ring offset in slot.
func (ix *index) setOff(slot int, off uint32) {
	g, i := slot/groupSlots, slot%groupSlots
	p := &ix.words[g*groupWords+1+i/2]
	s := 32 * uint(i%2)
	*p = *p&^(0xFFFFFFFF<<s) | uint64(off)<<s
}

// hashKey is the hash used for shards and the index.
func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// tagOf is the 7-bit control tag: the top bits of the hash, disjoint from
// the shard bits (lowest) and the home-group bits (24..55).
func tagOf(h uint64) uint8 { return uint8(h >> 57) }

// matchByte returns a mask with bit 7 of each byte of w equal to b set. It may
// also flag a byte equal to b^1 just above a true match; such bytes are full
// slots whose keys are compared anyway, and empty or deleted bytes are never
// flagged for a 7-bit b.
func matchByte(w uint64, b uint8) uint64 {
	x := w ^ (lsbs * uint64(b))
	return (x - lsbs) &^ x & msbs
}

// hasEmpty reports whether the group has an empty slot. Exact: 0x80^0x80 is
// the only zero byte possible, since no control byte equals 0x81.
func hasEmpty(w uint64) bool { return matchByte(w, ctrlEmpty) != 0 }

func (ix *index) init(groups int) {
	ix.words = make([]uint64, groups*groupWords)
	for g := range groups {
		ix.setCtrlWord(g, lsbs*ctrlEmpty)
	}
	ix.count, ix.tombs = 0, 0
}

// bytes is the memory held by the table.
func (ix *index) bytes() int64 { return int64(len(ix.words)) * 8 }

// maxLoad is the number of full plus deleted slots that forces a rehash.
func (ix *index) maxLoad() int { return ix.groups() * groupSlots * 7 / 8 }

func (ix *index) home(h uint64) int {
	return int((uint64(uint32(h>>24)) * uint64(ix.groups())) >> 32)
}

func setCtrl(w uint64, i int, b uint8) uint64 {
	s := uint(i) * 8
	return w&^(0xFF<<s) | uint64(b)<<s
}

// lookup returns the slot holding key, comparing keys in buf.
func (ix *index) lookup(buf []byte, h uint64, key []byte) (int, bool) {
	n := ix.groups()
	if n == 0 {
		return 0, false
	}
	g, tag := ix.home(h), tagOf(h)
	for probes := 0; probes < n; probes++ {
		w := ix.ctrl(g)
		for m := matchByte(w, tag); m != 0; m &= m - 1 {
			slot := g*groupSlots + bits.TrailingZeros64(m)>>3
			if bytes.Equal(itemKey(buf, int(ix.off(slot))), key) {
				return slot, true
			}
		}
		if hasEmpty(w) {
			return 0, false
		}
		if g++; g == n {
			g = 0
		}
	}
	return 0, false
}

// slotOf returns the slot that points at the item at off, whose key hashes
// to h. The item must be indexed.
func (ix *index) slotOf(h uint64, off uint32) (int, bool) {
	n := ix.groups()
	if n == 0 {
		return 0, false
	}
	g, tag := ix.home(h), tagOf(h)
	for probes := 0; probes < n; probes++ {
		w := ix.ctrl(g)
		for m := matchByte(w, tag); m != 0; m &= m - 1 {
			slot := g*groupSlots + bits.TrailingZeros64(m)>>3
			if ix.off(slot) == off && uint8(w>>(uint(slot%groupSlots)*8)) == tag {
				return slot, true
			}
		}
		if hasEmpty(w) {
			return 0, false
		}
		if g++; g == n {
			g = 0
		}
	}
	return 0, false
}

// insert adds a key known to be absent. The caller ensures room
// (count+tombs < maxLoad).
func (ix *index) insert(h uint64, off uint32) int {
	n := ix.groups()
	g, tag := ix.home(h), tagOf(h)
	for {
		w := ix.ctrl(g)
		if m := w & msbs; m != 0 {
			i := bits.TrailingZeros64(m) >> 3
			if uint8(w>>(uint(i)*8)) == ctrlDeleted {
				ix.tombs--
			}
			ix.setCtrlWord(g, setCtrl(w, i, tag))
			slot := g*groupSlots + i
			ix.setOff(slot, off)
			ix.count++
			return slot
		}
		if g++; g == n {
			g = 0
		}
	}
}

// remove empties a full slot. A slot of a group that was never full since
// the last rehash becomes empty; otherwise it becomes a tombstone, so that
// probe chains running through the group stay intact.
func (ix *index) remove(slot int) {
	g, i := slot/groupSlots, slot%groupSlots
	w := ix.ctrl(g)
	if hasEmpty(w) {
		ix.setCtrlWord(g, setCtrl(w, i, ctrlEmpty))
	} else {
		ix.setCtrlWord(g, setCtrl(w, i, ctrlDeleted))
		ix.tombs++
	}
	ix.count--
}

// rehash rebuilds the table with the given number of groups, rehashing each
// key from the ring.
func (ix *index) rehash(buf []byte, groups int) {
	old := *ix
	ix.init(groups)
	for g := range old.groups() {
		for m := ^old.ctrl(g) & msbs; m != 0; m &= m - 1 {
			off := old.off(g*groupSlots + bits.TrailingZeros64(m)>>3)
			ix.insert(hashKey(itemKey(buf, int(off))), off)
		}
	}
}

// forEach calls fn for every full slot, in table order, starting at group
// start, for at most n groups; it returns the group after the last visited.
func (ix *index) forGroups(start, n int, fn func(slot int, off uint32)) int {
	groups := ix.groups()
	if groups == 0 {
		return 0
	}
	g := start % groups
	for ; n > 0; n-- {
		for m := ^ix.ctrl(g) & msbs; m != 0; m &= m - 1 {
			slot := g*groupSlots + bits.TrailingZeros64(m)>>3
			fn(slot, ix.off(slot))
		}
		if g++; g == groups {
			g = 0
		}
	}
	return g
}
