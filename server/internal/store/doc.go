// Package store is zonecached's item store (cmd/zonecached uses package
// server, which uses store): a memory-bounded, GC-friendly map from keys to
// values with memcached's metadata (flags, CAS, expiry, access time),
// approximate-LRU eviction and flush_all semantics.
//
// The protocol layer (package server) parses memcached text and meta
// commands and expresses each one as a Read (a plain read, whose reader may
// leave it unrecorded, as mg u does) or an Update, whose
// callback sees the current Entry under the key's lock and returns an Op:
// Keep, Put, SetMeta or Delete. All command semantics (add, cas, append,
// incr, meta flags) live in those callbacks; the store only guarantees
// atomicity, memory bounds, CAS uniques and expiry. A plain set, which
// looks at nothing, is a Set: an Update returning a Put, without the
// callback.
//
// Layout. Keys hash (xxhash) to one of up to 256 shards, as many as leave
// each shard's budget room for 16 items of MaxItemSize (a ring loses at
// most one item's space at its end, so large items fill memory about as
// well as memcached's chunked ones). Each shard has its own mutex, a ring
// of items in an arena outside the Go heap (mmap on Linux, touched lazily,
// so resident memory follows the data, not MaxBytes; while the live data is
// under an eighth of the budget the ring wraps early, at max(256 KiB, 8 times
// the live bytes), so that overwrites reuse pages already touched and warm
// in the caches rather than fresh ones), and a pointer-free
// open-addressing index of 5 bytes per slot (about 6 bytes per item). The
// index is a directory of small tables chosen by hash bits (extendible
// hashing): a table grows by 5/4 up to a cap and then splits in two, so
// that rebuilding one (to grow, split or clear it of tombstones) touches a
// bounded number of keys, not the shard. The index takes what it needs of
// the shard's budget, at most 1/8 (directory and table headers included),
// and the ring the rest: the ring wraps early enough to leave room for the
// index to grow by a quarter and gives back the pages the index takes, so
// arenas plus indexes never exceed MaxBytes; the Go heap holds only the
// indexes and a few structures per shard. An item costs a 30-byte header plus its key and
// value in the ring; against MaxItemSize it counts as in memcached (key,
// value and 59 bytes), so the largest value accepted is memcached's.
//
// Reclaiming and eviction: when space is needed the oldest item in the
// ring is dropped if it is dead (deleted or overwritten) or expired. While
// a shard's live data is within 14/15 of its ring, a live oldest item is
// copied to the tail instead (compaction), so overwritten copies make room
// and no live item is evicted. Under its lock a write copies at most 256
// items and max(256 KiB, its size) bytes, and evicts past that; then, the
// lock released, the writer frees room ahead of the next writes (tidy: up
// to max(16 KiB, twice its size), at most 1/8 of the ring) in slices of
// the same bound, each under its own hold of the lock, so no lock is held
// across more than one slice of copying. Above that
// share eviction is CLOCK: the oldest live item is dropped if unread since
// it was stored, and moved to the tail with its reference bit cleared
// otherwise (at most 16 items or 256 KiB per write). A table of the index
// that is full and cannot grow evicts at the head (at most 256 items), then
// its own oldest items. So every hold of a shard lock does bounded work:
// at most two tables' slots (rebuild or split, and eviction scan), 256
// evictions for the index, one slice of copying, CLOCK's 16 moves, and the
// evictions the write's own size needs.
// Expired
// items are reclaimed on access, when the ring reaches them, and by a
// background sweeper that examines a slice of each index per tick. A flush
// empties shards at once (a delayed one at the first operation on the shard
// after its deadline) and returns their pages to the system. Purge removes
// the items a predicate selects (the server's ownership purge) a chunk of
// one shard's index per lock hold, so reads go on during it.
//
// Snapshots. WriteSnapshot streams every live item (key, value, flags,
// expiry, CAS) and the CAS counter to a writer, a chunk of one shard's index
// per lock hold, ending with an item count and a CRC-32C; ReadSnapshot
// loads one, dropping items expired since, and flushes what it stored if the
// input does not validate (ErrBadSnapshot). The server's warm restart
// (server.Config.RestartFile) is built on them.
//
// Time. Item times are Unix seconds. With the system clock the store reads
// its own clock, refreshed every 100 ms, instead of calling time.Now on
// every operation; an injected Config.Now is called every time.
//
// Listings and limits. Scan lists live items a chunk of one shard's index
// per lock hold and lets the caller write them out between chunks, with no
// lock held. SetLimit lowers or raises the memory limit at run time, up to
// Config.MaxBytes; as memcached, a lower limit keeps what is held.
//
// CAS uniques come from one counter that starts at 1 and grows by one per
// assigned CAS, as memcached's, so replies can be compared byte for byte.
package store
