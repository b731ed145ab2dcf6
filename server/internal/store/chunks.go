package store

import "context"

// chunkGroups is how many index groups (8 slots each) one hold of a shard
// lock covers in a chunked pass: a few hundred keys, tens of microseconds.
const chunkGroups = 64

// maxChunkRestarts bounds how often a chunked pass starts an index table
// over because it was rebuilt in between two chunks; past it the pass goes
// on where it was, and items the rebuild moved behind it wait for the next
// pass.
const maxChunkRestarts = 3

// eachChunk calls fn for every live item of the shard, chunkGroups index
// groups per hold of the lock, so that reads and writes go on between
// chunks (an item stored behind the pass is not seen). fn runs under the
// lock and may remove the item in slot; its error stops the pass.
func (sh *shard) eachChunk(ctx context.Context, s *Store, fn func(slot, off int) error) error {
	pos, restarts := 0, 0
	var table *uint64 // the memory of the table pos is in: a rebuild allocates anew
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := s.nowSec()
		sh.mu.Lock()
		if sh.closed || sh.ix.done(pos) {
			sh.mu.Unlock()
			return nil
		}
		sh.checkFlush(now)
		if cur := sh.ix.tableAt(pos); cur != table {
			if pos&slotMask != 0 && restarts < maxChunkRestarts {
				pos, restarts = pos&^slotMask, restarts+1 // the table was rebuilt mid-pass
			}
		}
		var err error
		t := pos >> slotShift
		pos = sh.ix.forGroups(pos, chunkGroups, func(slot int, off uint32) {
			o := int(off)
			if err == nil && !expiredAt(le.Uint32(sh.buf[o+offExpires:]), now) {
				err = fn(slot, o)
			}
		})
		if pos>>slotShift != t {
			restarts = 0 // a new table
		}
		table = sh.ix.tableAt(pos)
		sh.mu.Unlock()
		if err != nil {
			return err
		}
	}
}
