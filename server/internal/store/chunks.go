package store

import (
	"context"
	"unsafe"
)

// chunkGroups is how many index groups (8 slots each) one hold of a shard
// lock covers in a chunked pass: a few hundred keys, tens of microseconds.
const chunkGroups = 64

// maxChunkRestarts bounds how often a chunked pass starts a shard over
// because its index was rebuilt in between two chunks; past it the pass goes
// on where it was, and items the rebuild moved behind it wait for the next
// pass.
const maxChunkRestarts = 3

// eachChunk calls fn for every live item of the shard, chunkGroups index
// groups per hold of the lock, so that reads and writes go on between
// chunks (an item stored behind the pass is not seen). fn runs under the
// lock and may remove the item in slot; its error stops the pass.
func (sh *shard) eachChunk(ctx context.Context, s *Store, fn func(slot, off int) error) error {
	g, restarts := 0, 0
	var table *uint64 // the index's memory: a rebuild allocates anew
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := s.nowSec()
		sh.mu.Lock()
		if sh.closed {
			sh.mu.Unlock()
			return nil
		}
		sh.checkFlush(now)
		if cur := unsafe.SliceData(sh.ix.words); cur != table {
			if table != nil && restarts < maxChunkRestarts {
				g, restarts = 0, restarts+1
			}
			table = cur
		}
		total := sh.ix.groups()
		if g >= total {
			sh.mu.Unlock()
			return nil
		}
		chunk := min(chunkGroups, total-g)
		var err error
		sh.ix.forGroups(g, chunk, func(slot int, off uint32) {
			o := int(off)
			if err == nil && !expiredAt(le.Uint32(sh.buf[o+offExpires:]), now) {
				err = fn(slot, o)
			}
		})
		g += chunk
		sh.mu.Unlock()
		if err != nil {
			return err
		}
	}
}
