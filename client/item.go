package client

import "time"

// Item is a cached value with its metadata.
type Item struct {
	// Key is the application's key (without the client's prefix).
	Key string
	// Value is the cached bytes.
	Value []byte
	// Flags are opaque client flags stored with the value.
	Flags uint32
	// TTL is the remaining time to live when read, or the time to live to
	// set when written; 0 means no expiry.
	TTL time.Duration
	// CAS is the compare-and-swap token of the replica the item was read
	// from; it is only meaningful for that replica.
	CAS uint64
	// Stale marks a value served past its near-cache TTL, or by GetOrLoad
	// over its load budget, because no fresh one could be had (package
	// documentation, "Tier-down"). Writes ignore it.
	Stale bool

	// zone is the zone the item was read from; CompareAndSwap uses it.
	zone string
}
