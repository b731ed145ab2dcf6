package server

import "sync/atomic"

// budget bounds the memory all connections together hold in buffers for
// large values: values being read for a storage command, and values copied
// into a reply. Without it, each of MaxConns connections could hold an item
// of MaxItemSize at once.
type budget struct {
	limit int64
	used  atomic.Int64
}

// reserve takes n bytes from the budget, or reports false if they are not
// there.
func (b *budget) reserve(n int) bool {
	if b.used.Add(int64(n)) > b.limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

// release gives n bytes back.
func (b *budget) release(n int) { b.used.Add(-int64(n)) }
