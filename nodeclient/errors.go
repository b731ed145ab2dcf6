package nodeclient

import (
	"errors"
	"fmt"

	"github.com/zonecache/zonecache/internal/protocol"
)

// Sentinel errors; test with errors.Is. Errors from the network are wrapped
// with the node address; the outcome sentinels (ErrCacheMiss, ErrNotStored,
// ErrCASConflict, ErrNotFound) are returned bare so that the hot path does not
// allocate.
var (
	// ErrCacheMiss: a read (Get, GetAndTouch, LeaseGet without vivify) found
	// no item.
	ErrCacheMiss = errors.New("nodeclient: cache miss")
	// ErrNotStored: a conditional store (Add, Replace, Append, Prepend) did
	// not apply (ms answered NS).
	ErrNotStored = errors.New("nodeclient: not stored")
	// ErrCASConflict: the item's CAS differed from the one given (EX).
	ErrCASConflict = errors.New("nodeclient: CAS conflict")
	// ErrNotFound: a mutation (Delete, Touch, Incr, Decr, CompareAndSwap,
	// Invalidate) found no item (NF, or EN for Touch).
	ErrNotFound = errors.New("nodeclient: not found")
	// ErrCircuitOpen: the node's breaker is open; nothing was sent.
	ErrCircuitOpen = errors.New("nodeclient: circuit open")
	// ErrTimeout: the request outlived its pool's timeout.
	ErrTimeout = errors.New("nodeclient: request timed out")
	// ErrQueueTimeout wraps ErrTimeout: the request outlived its pool's
	// timeout while it waited in the client (for a rate-limit token, an
	// in-flight slot or a connection) and was never sent, so it was not
	// applied. It never counts against the node's breaker: the client is
	// busy, not the node.
	ErrQueueTimeout = fmt.Errorf("%w in the client queue", ErrTimeout)
	// ErrConnClosed: the connection carrying the request failed or was
	// closed before the reply arrived; the request may or may not have been
	// applied.
	ErrConnClosed = errors.New("nodeclient: connection closed")
	// ErrUnreachable: no connection to the node could be made: the dial
	// failed (refused, no route, DialTimeout passed) or the node did not
	// complete the `mn`/`version` handshake. The error also wraps the cause
	// (the net error, or ErrNoMeta). It counts against the breaker as a hard
	// failure; a dial cut short by the caller's own context is not
	// ErrUnreachable but wraps the context's error.
	ErrUnreachable = errors.New("nodeclient: node unreachable")
	// ErrClosed: the Node was closed.
	ErrClosed = errors.New("nodeclient: node closed")
	// ErrNoMeta: the operation needs the meta protocol (leases,
	// invalidation) but the node speaks only the text protocol; or the node
	// answered neither `mn` nor `version`.
	ErrNoMeta = errors.New("nodeclient: node does not support the meta protocol")
	// ErrValueTooLarge is protocol.ErrValueTooLarge: a value longer than
	// Config.MaxValueSize was refused before anything was sent.
	ErrValueTooLarge = protocol.ErrValueTooLarge
)
