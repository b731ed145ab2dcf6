package store

// scanGroups is how many index groups Scan visits under one hold of a
// shard lock, as Purge: a few hundred items.
const scanGroups = 64

// Scan calls visit for every live item, a chunk of one shard at a time,
// and between chunks calls flush with no lock held; flush returns false to
// stop. It is for listings written to a client (metadump): visit copies
// what it needs and flush writes it out, so a slow reader stalls no shard.
// visit runs under the shard lock: it must be quick, must not call the
// Store and must not keep key. Items stored during the scan, and those an
// index growth moves behind it, may be missed or listed twice.
func (s *Store) Scan(visit func(key []byte, m Meta, size int), flush func() bool) {
	for i := range s.shards {
		if !s.shards[i].scan(s, visit, flush) {
			return
		}
	}
}

// scan is Scan over one shard; it reports whether to go on.
func (sh *shard) scan(s *Store, visit func(key []byte, m Meta, size int), flush func() bool) bool {
	for pos := 0; ; {
		now := s.nowSec()
		sh.mu.Lock()
		if sh.closed || sh.ix.done(pos) {
			sh.mu.Unlock()
			return true
		}
		sh.checkFlush(now)
		pos = sh.ix.forGroups(pos, scanGroups, func(_ int, off uint32) {
			o := int(off)
			if sh.buf[o+offBits]&bitDead == 0 && !expiredAt(le.Uint32(sh.buf[o+offExpires:]), now) {
				visit(itemKey(sh.buf, o), readMeta(sh.buf, o), itemLen(sh.buf, o))
			}
		})
		sh.mu.Unlock()
		if !flush() {
			return false
		}
	}
}
