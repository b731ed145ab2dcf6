package store

import (
	"errors"
	"time"
)

// Sentinel errors returned by Store methods; test with errors.Is.
var (
	// ErrTooLarge means the item exceeds Config.MaxItemSize (see
	// LimitedSize).
	ErrTooLarge = errors.New("store: object too large for cache")
	// ErrNoMemory means the item could not be placed even after eviction.
	ErrNoMemory = errors.New("store: out of memory storing object")
	// ErrKeyTooLong means the key exceeds 250 bytes.
	ErrKeyTooLong = errors.New("store: key longer than 250 bytes")
)

// Config configures a Store. The zero value of each field selects its default.
type Config struct {
	// MaxBytes bounds the memory used for items: keys, values and per-item
	// headers, plus the index. Default 64 MiB.
	MaxBytes int64
	// MaxItemSize is the largest item accepted, counted as memcached
	// counts it (LimitedSize). Default 1 MiB.
	MaxItemSize int
	// Now returns the current time. Default time.Now; tests inject a clock.
	Now func() time.Time
	// SweepInterval is how often a background goroutine reclaims a slice of
	// the expired items. Default 1s (DefaultSweepInterval); negative
	// disables the sweeper (expired items are then reclaimed only on access
	// and when their memory is reused).
	SweepInterval time.Duration
}

// Meta is an item's metadata. Times are Unix seconds.
type Meta struct {
	// Flags are the client's opaque 32-bit flags.
	Flags uint32
	// CAS is the item's compare-and-swap unique.
	CAS uint64
	// Expires is when the item expires; 0 means never.
	Expires int64
	// Stored is when the value was last stored.
	Stored int64
	// Accessed is when the item was last read or written.
	Accessed int64
	// Fetched reports whether the item was read since it was stored.
	Fetched bool
	// Stale is set by a meta delete with the I flag.
	Stale bool
	// WinSent reports that a recache win token (meta W) was handed out for
	// the item and no new value has been stored since.
	WinSent bool
	// KeyBinary records that the key was given base64-encoded (the meta b
	// flag) when the item was stored, so that the meta k flag and me show
	// it encoded again, as memcached does.
	KeyBinary bool
}

// Entry is the current state of one key, as an Update callback sees it.
type Entry struct {
	// Found is false when the key is absent, expired or flushed.
	Found bool
	// Meta is the item's metadata when Found.
	Meta Meta
	// Value aliases the store's memory: it is valid only during the
	// callback and must not be modified or retained.
	Value []byte
}

// Action says what an Update does to the item.
type Action uint8

const (
	// Keep leaves the item as it is: a read. Unless Op.NoBump is set, a
	// found item's Accessed time is refreshed and Fetched is set.
	Keep Action = iota
	// Put writes a new value (the concatenation of Op.Value) with
	// Op.Meta, replacing the current item if there is one.
	Put
	// SetMeta keeps the value and replaces the metadata with Op.Meta.
	SetMeta
	// Delete removes the item.
	Delete
)

// Op is the outcome of an Update callback.
type Op struct {
	// Action is what to do.
	Action Action
	// Meta is the new metadata for Put and SetMeta. A zero CAS makes the
	// store assign the next CAS unique; Stored and Accessed are set to now
	// by Put.
	Meta Meta
	// Value holds the parts of the new value for Put; they may alias
	// Entry.Value (append and prepend do).
	Value [][]byte
	// NoBump, with Keep, leaves Accessed and Fetched unchanged.
	NoBump bool
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	// Items is the number of items held, live or expired but not yet
	// reclaimed.
	Items int64
	// Bytes is the sum of ItemSize over the items held.
	Bytes int64
	// LimitBytes is Config.MaxBytes.
	LimitBytes int64
	// TotalItems counts every Put action since start.
	TotalItems uint64
	// Evictions counts live items removed to make room.
	Evictions uint64
	// EvictedUnfetched counts evicted items that were never read.
	EvictedUnfetched uint64
	// Reclaimed counts expired or flushed items whose memory was reused.
	Reclaimed uint64
	// ExpiredUnfetched counts reclaimed expired items that were never read.
	ExpiredUnfetched uint64
	// GetExpired counts lookups (Update or Get) that found the key expired
	// and reclaimed it: memcached's get_expired.
	GetExpired uint64
	// IndexSlots is the number of slots of the hash indexes.
	IndexSlots int64
	// ArenaBytes is the item memory touched so far: the sum over shards of
	// the highest ring offset written. It grows with the data, not with
	// MaxBytes, and with IndexBytes never passes MaxBytes.
	ArenaBytes int64
	// IndexBytes is the memory of the hash indexes.
	IndexBytes int64
}

// ItemSize is the number of bytes an item with these key and value lengths
// counts against the memory limit and reports as its size.
func ItemSize(keyLen, valueLen int) int { return itemHeaderSize + keyLen + valueLen }

// memcachedItemOverhead is what memcached adds to a key and value when it
// checks an item against -I: its 56-byte header with CAS, the key's NUL
// and the value's CRLF.
const memcachedItemOverhead = 59

// LimitedSize is the size an item with these key and value lengths counts
// against Config.MaxItemSize: memcached's, so that the largest value
// accepted at each -I is memcached's.
func LimitedSize(keyLen, valueLen int) int { return keyLen + valueLen + memcachedItemOverhead }
