// Package store is zonecached's item store (cmd/zonecached uses package
// server, which uses store): a memory-bounded, GC-friendly map from keys to
// values with memcached's metadata (flags, CAS, expiry, access time),
// approximate-LRU eviction and flush_all semantics.
//
// The protocol layer (package server) parses memcached text and meta
// commands and expresses each one as a Get (plain reads) or an Update, whose
// callback sees the current Entry under the key's lock and returns an Op:
// Keep, Put, SetMeta or Delete. All command semantics (add, cas, append,
// incr, meta flags) live in those callbacks; the store only guarantees
// atomicity, memory bounds, CAS uniques and expiry.
//
// Layout. Keys hash (xxhash) to one of up to 256 shards, each with its own
// mutex, a ring of items in an arena outside the Go heap (mmap on Linux,
// touched lazily, so resident memory follows the data, not MaxBytes), and a
// pointer-free open-addressing index of 5 bytes per slot (about 6 bytes per
// item). A shard gives at most 1/8 of its budget to the index and the rest
// to the ring, so arenas plus indexes never exceed MaxBytes; the Go heap
// holds only the indexes and a few structures per shard. An item costs a
// 30-byte header plus its key and value in the ring.
//
// Eviction is CLOCK over the ring: when space is needed the oldest item is
// dropped if it is dead, expired or unread since it was stored, and moved
// to the tail with its reference bit cleared otherwise (at most 16 items or
// 256 KiB per write, so writes do bounded work under the lock). Expired
// items are reclaimed on access, when the ring reaches them, and by a
// background sweeper that examines a slice of each index per tick. A flush
// empties shards at once (a delayed one at the first operation on the shard
// after its deadline) and returns their pages to the system. Purge removes
// the items a predicate selects (the server's ownership purge) a chunk of
// one shard's index per lock hold, so reads go on during it.
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
