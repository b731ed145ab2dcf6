package nodeclient

import "github.com/zonecache/zonecache/internal/protocol"

// Item is a cache entry as read or written.
type Item struct {
	// Key is the item's key.
	Key string
	// Value is the item's value. Values returned by reads are freshly
	// allocated and owned by the caller.
	Value []byte
	// Flags are the opaque client flags stored with the item.
	Flags uint32
	// TTL on a write is the lifetime in seconds (0 = never expires; larger
	// than 30 days = absolute Unix time, as in memcached). On a read it is
	// the remaining lifetime in seconds, -1 when the item never expires.
	TTL int32
	// CAS on a read is the item's CAS value; on a write through Store or
	// CompareAndSwap, a non-zero CAS makes the write conditional on it.
	CAS uint64
}

func itemFromReply(key string, r *protocol.Reply, v []byte) Item {
	ttl := r.TTL
	if ttl > 1<<31-1 {
		ttl = 1<<31 - 1
	}
	return Item{Key: key, Value: v, Flags: r.ClientFlags, TTL: int32(ttl), CAS: r.CAS}
}

// Lease is the result of LeaseGet, GetAndTouch and SwapTTL: the item
// (possibly an empty stub created by vivify-on-miss) and the lease flags
// the node returned, so callers can share the work of refreshing a value.
type Lease struct {
	Item
	// Size is the value's length in bytes, also from SwapTTL, which does
	// not return the value: an empty stub has Size 0.
	Size int
	// Won (W): this caller won the right to (re)compute and store the value.
	Won bool
	// Stale (X): the item was marked stale (md with I, or a store with I).
	Stale bool
	// WinSent (Z): another caller already holds the win; serve what is here
	// or wait.
	WinSent bool
}

// StoreMode selects what Store does when the key exists or not.
type StoreMode byte

// Store modes: the values of the ms command's M flag.
const (
	ModeSet     StoreMode = 'S' // store unconditionally
	ModeAdd     StoreMode = 'E' // store only if the key is absent
	ModeReplace StoreMode = 'R' // store only if the key exists
	ModeAppend  StoreMode = 'A' // append to an existing value
	ModePrepend StoreMode = 'P' // prepend to an existing value
)

// StoreOptions are the less common options of Store.
type StoreOptions struct {
	// Mode is the store mode (zero value = ModeSet).
	Mode StoreMode
	// Invalidate (ms I): with a CAS, accept a CAS older than the item's and
	// keep the item marked stale.
	Invalidate bool
}

// LeaseOptions are the lease modifiers of LeaseGet. Zero fields are not
// sent.
type LeaseOptions struct {
	// VivifyTTL (mg N): on a miss, create an empty stub with this TTL and
	// give this caller the win (Won); later callers see WinSent.
	VivifyTTL int32
	// RecacheBelow (mg R): on a hit whose remaining TTL is below this many
	// seconds, give one caller the win to refresh it early.
	RecacheBelow int32
	// TTL (mg T): also update the item's TTL.
	TTL int32
}
