package client

import (
	"errors"
	"fmt"

	"github.com/zonecache/zonecache/nodeclient"
)

// Outcomes: the nodes answered, and the operation's condition did not hold.
// They are package nodeclient's values (one sentinel per outcome), so
// errors.Is matches them whichever package an error came from.
var (
	// ErrCacheMiss: no zone that answered had the key.
	ErrCacheMiss = nodeclient.ErrCacheMiss
	// ErrNotStored: a conditional write (Add, Replace, Append, Prepend) did
	// not apply: for Add the key exists, for the others it is missing.
	ErrNotStored = nodeclient.ErrNotStored
	// ErrCASConflict: the item changed since it was read.
	ErrCASConflict = nodeclient.ErrCASConflict
	// ErrNotFound: a mutation (Touch, Incr, Decr, CompareAndSwap) found no
	// item on any replica.
	ErrNotFound = nodeclient.ErrNotFound
)

// Sentinel errors of the client; test them with errors.Is. Errors from a
// node wrap the node's error, so its causes (a timeout, an open circuit)
// can be told apart with errors.Is too, against the variables further down.
var (
	// ErrUnavailable: no zone could answer a read at all (every replica
	// asked failed, or none exists), or a write reached no replica.
	ErrUnavailable = errors.New("zonecache: no replica could answer")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("zonecache: client closed")
	// ErrInvalidConfig: Config or a Topology cannot be used.
	ErrInvalidConfig = errors.New("zonecache: invalid config")
	// ErrInvalidKey: the key is empty (the error also matches
	// ErrKeyEmpty). Keys too long for memcached or holding spaces or
	// control characters are not refused: they are stored under their hash
	// (see the package documentation).
	ErrInvalidKey = errors.New("zonecache: invalid key")
	// ErrKeyHashed: the operation (Append, Prepend, Incr, Decr) cannot work
	// on a key that is stored under its hash with an envelope (see Config).
	ErrKeyHashed = errors.New("zonecache: operation not supported on a hashed key")
	// ErrRepairsPending: Close returned with repairs of failed replica
	// writes not yet run; the error says how many, and how many of them
	// are left in the repair spool for the next client to run.
	ErrRepairsPending = errors.New("zonecache: repairs pending")
	// ErrReservedFlags: the item's client flags are TombstoneFlags, the
	// value the client reserves to mark deleted keys.
	ErrReservedFlags = errors.New("zonecache: client flags reserved for tombstones")
	// ErrOriginBusy: GetOrLoad had to load and the process's loader budget
	// (Config.LoadConcurrency, Config.LoadRate) was spent, and no stale
	// value could be served: the loader was not called.
	ErrOriginBusy = errors.New("zonecache: origin load budget exhausted")
	// ErrInjected is the default error of a fault-injection rule.
	ErrInjected = errors.New("zonecache: injected fault")
)

// Causes from package nodeclient that client errors wrap. They are
// nodeclient's own sentinels (not copies), so errors.Is matches them in any
// error the client returns.
var (
	// ErrTimeout: a request to a node outlived its pool's timeout
	// (Config.Node.Online.Timeout or Batch.Timeout), or an injected
	// delay was longer than it.
	ErrTimeout = nodeclient.ErrTimeout
	// ErrQueueTimeout wraps ErrTimeout: the request timed out while it
	// waited in the client (rate limit, in-flight slot, connection) and
	// was never sent, so it was not applied. It never counts against the
	// node's breaker; zonecache_client_queue_timeouts_total counts it.
	ErrQueueTimeout = nodeclient.ErrQueueTimeout
	// ErrCircuitOpen: the node's circuit breaker is open after repeated
	// failures; nothing was sent.
	ErrCircuitOpen = nodeclient.ErrCircuitOpen
	// ErrConnClosed: the connection failed before the node answered (the
	// node died); the request may or may not have been applied.
	ErrConnClosed = nodeclient.ErrConnClosed
	// ErrUnreachable: no connection to the node could be made (the dial
	// was refused or timed out, or the node failed the handshake); nothing
	// was sent. It opens the node's breaker, and reads fall back to the
	// next zone as on any node failure.
	ErrUnreachable = nodeclient.ErrUnreachable
	// ErrNoMeta: the node does not speak the meta protocol, so leases
	// cannot be taken there.
	ErrNoMeta = nodeclient.ErrNoMeta
	// ErrValueTooLarge: a value longer than
	// Config.Node.MaxValueSize was refused before it was sent.
	ErrValueTooLarge = nodeclient.ErrValueTooLarge
	// ErrKeyEmpty: the key is empty (with ErrInvalidKey).
	ErrKeyEmpty = nodeclient.ErrKeyEmpty
	// ErrServerError: a node answered SERVER_ERROR (out of memory, for
	// example).
	ErrServerError = nodeclient.ErrServerError
	// ErrClientError: a node answered CLIENT_ERROR: it refused the request.
	ErrClientError = nodeclient.ErrClientError
)

// errEmptyKey is what every call returns for an empty key.
var errEmptyKey = fmt.Errorf("%w: %w", ErrInvalidKey, ErrKeyEmpty)

// outcome reports whether err is an answer from a node (the node worked,
// the operation's condition did not hold) rather than a failure of the
// node. Answers count as successes for the write policy.
func outcome(err error) bool {
	return err == nil || errors.Is(err, nodeclient.ErrNotStored) || errors.Is(err, nodeclient.ErrNotFound) ||
		errors.Is(err, nodeclient.ErrCASConflict) || errors.Is(err, nodeclient.ErrCacheMiss)
}
