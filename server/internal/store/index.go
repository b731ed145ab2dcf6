package store

import (
	"bytes"
	"math/bits"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// table is one open addressing hash table of an index, in the style of
// Swiss tables: groups of 8 slots, each group five uint64 words (40 bytes,
// one cache line or two): a control word with one byte per slot (a 7-bit
// hash tag, empty or deleted), then the slots' 32-bit ring offsets, two per
// word. A lookup thus touches one group's memory, not a control array and
// an offset array. The table holds no Go pointers, so the garbage collector
// never scans it, and it costs 5 bytes per slot. Keys are not stored here: a
// tag match is confirmed by comparing the full key in the ring, so hash
// collisions are handled.
//
// Group counts need not be powers of two (the home group is found by
// multiply-shift), which lets the table grow by 5/4 and keeps the average
// load near 80 %.
type table struct {
	words []uint64 // groupWords per group: control word, then offsets
	count int      // full slots
	tombs int      // deleted slots
	depth uint     // hash bits that choose it (index.split)
}

const (
	groupSlots    = 8
	ctrlEmpty     = 0x80
	ctrlDeleted   = 0xFE
	lsbs          = 0x0101010101010101
	msbs          = 0x8080808080808080
	groupWords    = 1 + groupSlots/2
	bytesPerGroup = 8 * groupWords
)

// groups is the number of groups.
func (ix *table) groups() int { return len(ix.words) / groupWords }

// ctrl is group g's control word.
func (ix *table) ctrl(g int) uint64 { return ix.words[g*groupWords] }

func (ix *table) setCtrlWord(g int, w uint64) { ix.words[g*groupWords] = w }

// off is the ring offset in slot.
func (ix *table) off(slot int) uint32 {
	g, i := slot/groupSlots, slot%groupSlots
	return uint32(ix.words[g*groupWords+1+i/2] >> (32 * uint(i%2)))
}

// setOff stores a ring offset in slot.
func (ix *table) setOff(slot int, off uint32) {
	g, i := slot/groupSlots, slot%groupSlots
	p := &ix.words[g*groupWords+1+i/2]
	s := 32 * uint(i%2)
	*p = *p&^(0xFFFFFFFF<<s) | uint64(off)<<s
}

// hashKey is the hash used for shards and the index.
func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// tagOf is the 7-bit control tag: the top bits of the hash, disjoint from
// the shard bits (lowest), the table bits (from 12) and the home-group bits
// (24..55).
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

func (ix *table) init(groups int) {
	ix.words = make([]uint64, groups*groupWords)
	for g := range groups {
		ix.setCtrlWord(g, lsbs*ctrlEmpty)
	}
	ix.count, ix.tombs = 0, 0
}

// maxLoad is the number of full plus deleted slots that forces a rehash.
func (ix *table) maxLoad() int { return ix.groups() * groupSlots * 7 / 8 }

func (ix *table) home(h uint64) int {
	return int((uint64(uint32(h>>24)) * uint64(ix.groups())) >> 32)
}

func setCtrl(w uint64, i int, b uint8) uint64 {
	s := uint(i) * 8
	return w&^(0xFF<<s) | uint64(b)<<s
}

// lookup returns the slot holding key, comparing keys in buf.
func (ix *table) lookup(buf []byte, h uint64, key []byte) (int, bool) {
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
func (ix *table) slotOf(h uint64, off uint32) (int, bool) {
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
func (ix *table) insert(h uint64, off uint32) int {
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
func (ix *table) remove(slot int) {
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
// key from the ring, and returns the number of keys it moved.
func (ix *table) rehash(buf []byte, groups int) int {
	old := *ix
	ix.init(groups)
	for g := range old.groups() {
		for m := ^old.ctrl(g) & msbs; m != 0; m &= m - 1 {
			off := old.off(g*groupSlots + bits.TrailingZeros64(m)>>3)
			ix.insert(hashKey(itemKey(buf, int(off))), off)
		}
	}
	return ix.count
}

// forGroups calls fn for every full slot, in table order, starting at group
// start, for at most n groups; it returns the group after the last visited.
func (ix *table) forGroups(start, n int, fn func(slot int, off uint32)) int {
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

// index maps keys to item offsets in one shard's ring: a directory of
// tables chosen by hash bits (extendible hashing). A table grows by 5/4 up
// to tableMaxGroups groups and then splits in two by one more hash bit,
// doubling the directory when it needs the bit, so that rebuilding a
// table, to grow, split or clear it of tombstones, is bounded work under
// the shard lock whatever the shard's size. A slot names the directory
// entry of its table in the bits above slotShift.
type index struct {
	dir     []*table // 1<<depth entries; a table of depth d is in every entry whose low d bits are its own
	depth   uint
	count   int // full slots, all tables
	ngroups int // groups, all tables
	ntables int // distinct tables
}

const (
	tableShift     = 12 // a key's directory entry: hash bits from 12, above the shard bits, below the home bits
	maxDepth       = 12 // so at most 4096 directory entries
	tableMaxGroups = 64 // a table splits rather than grow past this (512 slots), below maxDepth
	slotShift      = 32
	slotMask       = 1<<slotShift - 1
)

// init empties the index into one table of one group.
func (ix *index) init() {
	t := &table{}
	t.init(1)
	ix.dir = []*table{t}
	ix.depth = 0
	ix.count, ix.ngroups, ix.ntables = 0, 1, 1
}

// groups is the number of groups, all tables.
func (ix *index) groups() int { return ix.ngroups }

// footprint is the memory the index is charged in groups (40 bytes): its
// groups, two per table for its header, one per five directory entries.
func (ix *index) footprint() int { return ix.ngroups + 2*ix.ntables + len(ix.dir)/5 }

// bytes is the memory held by the tables' groups.
func (ix *index) bytes() int64 { return int64(ix.ngroups) * bytesPerGroup }

// tableOf is the directory entry of keys hashing to h.
func (ix *index) tableOf(h uint64) int { return int(h>>tableShift) & (len(ix.dir) - 1) }

// full reports whether the table of h must be rebuilt before an insert.
func (ix *index) full(h uint64) bool {
	t := ix.dir[ix.tableOf(h)]
	return t.count+t.tombs >= t.maxLoad()
}

// lookup returns the slot holding key, comparing keys in buf.
func (ix *index) lookup(buf []byte, h uint64, key []byte) (int, bool) {
	if len(ix.dir) == 0 { // closed
		return 0, false
	}
	t := ix.tableOf(h)
	slot, ok := ix.dir[t].lookup(buf, h, key)
	return t<<slotShift | slot, ok
}

// slotOf returns the slot that points at the item at off, whose key hashes
// to h. The item must be indexed.
func (ix *index) slotOf(h uint64, off uint32) (int, bool) {
	t := ix.tableOf(h)
	slot, ok := ix.dir[t].slotOf(h, off)
	return t<<slotShift | slot, ok
}

// insert adds a key known to be absent; its table must not be full.
func (ix *index) insert(h uint64, off uint32) int {
	t := ix.tableOf(h)
	ix.count++
	return t<<slotShift | ix.dir[t].insert(h, off)
}

// remove empties a full slot.
func (ix *index) remove(slot int) {
	ix.dir[slot>>slotShift].remove(slot & slotMask)
	ix.count--
}

// off is the ring offset in slot.
func (ix *index) off(slot int) uint32 { return ix.dir[slot>>slotShift].off(slot & slotMask) }

// setOff stores a ring offset in slot.
func (ix *index) setOff(slot int, off uint32) { ix.dir[slot>>slotShift].setOff(slot&slotMask, off) }

// resize rebuilds the table of directory entry t with the given number of
// groups and returns the number of keys it moved.
func (ix *index) resize(t, groups int, buf []byte) int {
	ix.ngroups += groups - ix.dir[t].groups()
	return ix.dir[t].rehash(buf, groups)
}

// groupsFor is the size of a table that holds n keys about 70 % full.
func groupsFor(n int) int { return max(1, (n*10/7+groupSlots-1)/groupSlots) }

// split divides the table of directory entry t in two by its next hash
// bit, if fits(the footprint's growth) agrees. It returns the keys it
// hashed (each twice) and whether it split.
func (ix *index) split(t int, buf []byte, fits func(grow int) bool) (int, bool) {
	old := ix.dir[t]
	dirGrow := 0
	if old.depth == ix.depth {
		dirGrow = len(ix.dir)
	}
	// The halves take at most one group more than the keys need together.
	if !fits(groupsFor(old.count) + 1 - old.groups() + 2 + (len(ix.dir)+dirGrow)/5 - len(ix.dir)/5) {
		return 0, false
	}
	bit := uint64(1) << old.depth
	ones := 0 // a first pass sizes the halves, so that nothing is kept between the passes
	old.forGroups(0, old.groups(), func(_ int, off uint32) {
		if hashKey(itemKey(buf, int(off)))>>tableShift&bit != 0 {
			ones++
		}
	})
	ga, gb := groupsFor(old.count-ones), groupsFor(ones)
	if dirGrow > 0 {
		ix.dir = append(ix.dir, ix.dir...)
		ix.depth++
	}
	a, b := &table{depth: old.depth + 1}, &table{depth: old.depth + 1}
	a.init(ga)
	b.init(gb)
	old.forGroups(0, old.groups(), func(_ int, off uint32) {
		h := hashKey(itemKey(buf, int(off)))
		if h>>tableShift&bit != 0 {
			b.insert(h, off)
		} else {
			a.insert(h, off)
		}
	})
	for i := t & int(bit-1); i < len(ix.dir); i += int(bit) {
		if uint64(i)&bit != 0 {
			ix.dir[i] = b
		} else {
			ix.dir[i] = a
		}
	}
	ix.ngroups += ga + gb - old.groups()
	ix.ntables++
	return 2 * old.count, true
}

// forGroups calls fn for every full slot of at most n groups from pos (0,
// or what a previous call returned), table after table in directory order,
// and returns the position after the last group visited: past the
// directory (done reports it) when the pass is over. A table is visited at
// its first directory entry.
func (ix *index) forGroups(pos, n int, fn func(slot int, off uint32)) int {
	t, g := pos>>slotShift, pos&slotMask
	for ; n > 0 && t < len(ix.dir); t, g = t+1, 0 {
		tb := ix.dir[t]
		k := min(n, tb.groups()-g)
		if t>>tb.depth != 0 || k <= 0 {
			continue
		}
		tb.forGroups(g, k, func(slot int, off uint32) { fn(t<<slotShift|slot, off) })
		n -= k
		if g += k; g < tb.groups() {
			return t<<slotShift | g
		}
	}
	return t << slotShift
}

// done reports whether pos, from forGroups, is past the directory.
func (ix *index) done(pos int) bool { return pos>>slotShift >= len(ix.dir) }

// tableAt is the memory of the table pos is in (nil past the directory): a
// rebuild or split allocates anew, so a changed pointer means a rebuilt
// table.
func (ix *index) tableAt(pos int) *uint64 {
	if ix.done(pos) {
		return nil
	}
	return unsafe.SliceData(ix.dir[pos>>slotShift].words)
}
