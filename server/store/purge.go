package store

import (
	"context"
	"unsafe"
)

// purgeGroups is how many index groups (8 slots each) Purge examines under
// one hold of a shard lock: a few hundred keys, tens of microseconds.
const purgeGroups = 64

// maxPurgeRestarts bounds how often Purge starts a shard over because its
// index was rebuilt in between two chunks; past it the pass goes on where
// it was, and items the rebuild moved behind it wait for the next pass.
const maxPurgeRestarts = 3

// Purge removes every live item whose key drop selects and returns how many
// it removed, a chunk of one shard at a time so that reads and writes go on
// meanwhile (an item stored behind the pass is not seen). drop runs under the
// shard lock: it must be quick, must not call the Store, and must not keep
// key. Purge stops with ctx's error.
func (s *Store) Purge(ctx context.Context, drop func(key []byte) bool) (int, error) {
	n := 0
	for i := range s.shards {
		removed, err := s.shards[i].purge(ctx, s, drop)
		n += removed
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// purge is Purge over one shard.
func (sh *shard) purge(ctx context.Context, s *Store, drop func(key []byte) bool) (int, error) {
	n, g, restarts := 0, 0, 0
	var table *uint64 // the index's memory: a rebuild allocates anew
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		now := s.nowSec()
		sh.mu.Lock()
		if sh.closed {
			sh.mu.Unlock()
			return n, nil
		}
		sh.checkFlush(now)
		if cur := unsafe.SliceData(sh.ix.words); cur != table {
			if table != nil && restarts < maxPurgeRestarts {
				g, restarts = 0, restarts+1
			}
			table = cur
		}
		total := sh.ix.groups()
		if g >= total {
			sh.mu.Unlock()
			return n, nil
		}
		chunk := min(purgeGroups, total-g)
		sh.ix.forGroups(g, chunk, func(slot int, off uint32) {
			o := int(off)
			if !expiredAt(le.Uint32(sh.buf[o+offExpires:]), now) && drop(itemKey(sh.buf, o)) {
				sh.removeSlot(slot, o, false)
				n++
			}
		})
		g += chunk
		sh.mu.Unlock()
	}
}
