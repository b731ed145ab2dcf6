package store

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ringOf writes bare items (header and key) for keys into a fresh buffer
// and returns it with their offsets.
func ringOf(keys []string) ([]byte, []uint32) {
	var buf []byte
	var offs []uint32
	for _, k := range keys {
		offs = append(offs, uint32(len(buf)))
		h := make([]byte, itemHeaderSize)
		h[offKLen] = uint8(len(k))
		buf = append(append(buf, h...), k...)
	}
	return buf, offs
}

// TestIndexFullHashCollisions forces every key onto the same 64-bit hash:
// lookups must still tell keys apart by comparing them, removals and
// tombstones must keep the others reachable.
func TestIndexFullHashCollisions(t *testing.T) {
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprint("collide-", i))
	}
	buf, offs := ringOf(keys)
	var ix table
	ix.init(32) // all keys share one hash, so they cannot be rehashed apart
	const h = 0x0123456789abcdef
	for i := range keys {
		ix.insert(h, offs[i])
	}
	for i, k := range keys {
		slot, ok := ix.lookup(buf, h, []byte(k))
		require.True(t, ok, k)
		assert.Equal(t, offs[i], ix.off(slot))
	}
	_, ok := ix.lookup(buf, h, []byte("collide-x"))
	assert.False(t, ok)
	for i := 0; i < len(keys); i += 2 {
		slot, ok := ix.slotOf(h, offs[i])
		require.True(t, ok)
		ix.remove(slot)
	}
	for i, k := range keys {
		_, ok := ix.lookup(buf, h, []byte(k))
		assert.Equal(t, i%2 == 1, ok, k)
	}
	assert.Equal(t, 50, ix.count)
	assert.NotZero(t, ix.tombs, "removals inside full groups leave tombstones")
}

// TestIndexGrowAndRehash inserts and removes many keys with their real
// hashes through growth and tombstone purges.
func TestIndexGrowAndRehash(t *testing.T) {
	var keys []string
	for i := range 5000 {
		keys = append(keys, fmt.Sprint("k", i))
	}
	buf, offs := ringOf(keys)
	sh := &shard{buf: buf, limit: math.MaxInt32, maxGroup: 1 << 20}
	sh.ix.init()
	present := map[int]bool{}
	for round := range 3 {
		for i := range keys {
			if (i+round)%3 == 0 {
				continue
			}
			h := hashKey([]byte(keys[i]))
			if slot, ok := sh.ix.lookup(buf, h, []byte(keys[i])); ok {
				sh.ix.remove(slot)
				delete(present, i)
				continue
			}
			sh.makeIndexRoom(h, 0)
			sh.ix.insert(h, offs[i])
			present[i] = true
		}
		require.Equal(t, len(present), sh.ix.count)
		for i, k := range keys {
			_, ok := sh.ix.lookup(buf, hashKey([]byte(k)), []byte(k))
			require.Equal(t, present[i], ok, k)
		}
	}
	load := float64(sh.ix.count) / float64(sh.ix.groups()*groupSlots)
	t.Logf("count %d groups %d load %.2f", sh.ix.count, sh.ix.groups(), load)
	require.Greater(t, sh.ix.ntables, 1, "tables split")
	for i, tb := range sh.ix.dir {
		assert.LessOrEqual(t, tb.count+tb.tombs, tb.maxLoad(), "table %d", i)
		assert.LessOrEqual(t, tb.groups(), tableMaxGroups, "table %d", i)
	}
}

func TestMatchByte(t *testing.T) {
	w := uint64(0)
	for i, b := range []uint8{5, ctrlEmpty, 4, ctrlDeleted, 5, 0x7F, 0, ctrlEmpty} {
		w = setCtrl(w, i, b)
	}
	m := matchByte(w, 5)
	assert.NotZero(t, m&(0x80<<0))
	assert.NotZero(t, m&(0x80<<32))
	assert.Zero(t, m&(0x80<<8|0x80<<24|0x80<<56), "empty and deleted never match")
	assert.True(t, hasEmpty(w))
	assert.False(t, hasEmpty(setCtrl(setCtrl(w, 1, 1), 7, 2)))
}
