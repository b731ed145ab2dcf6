package store

import "context"

// Purge removes every live item whose key drop selects and returns how many
// it removed, a chunk of one shard at a time so that reads and writes go on
// meanwhile (an item stored behind the pass is not seen). drop runs under the
// shard lock: it must be quick, must not call the Store, and must not keep
// key. Purge stops with ctx's error.
func (s *Store) Purge(ctx context.Context, drop func(key []byte) bool) (int, error) {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		err := sh.eachChunk(ctx, s, func(slot, off int) error {
			if drop(itemKey(sh.buf, off)) {
				sh.removeSlot(slot, off, false)
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
