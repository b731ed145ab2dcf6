package nodeclient

import (
	"errors"
	"fmt"

	"github.com/zonecache/zonecache/internal/protocol"
)

// Outcomes: the node answered, and the operation's condition did not hold.
// They are returned bare, so the hot path does not allocate, and package
// client returns the same values, so one errors.Is test serves both.
var (
	// ErrCacheMiss: a read found no item.
	ErrCacheMiss = errors.New("zonecache: cache miss")
	// ErrNotStored: a conditional store (Add, Replace, Append, Prepend) did
	// not apply.
	ErrNotStored = errors.New("zonecache: not stored")
	// ErrCASConflict: the item's CAS differed from the one given: it changed
	// since it was read.
	ErrCASConflict = errors.New("zonecache: CAS conflict")
	// ErrNotFound: a mutation (Delete, Touch, Incr, Decr, CompareAndSwap,
	// Invalidate) found no item.
	ErrNotFound = errors.New("zonecache: not found")
)

// Failures; test with errors.Is. They come wrapped with the node's address.
var (
	// ErrCircuitOpen: the node's breaker is open; nothing was sent.
	ErrCircuitOpen = errors.New("nodeclient: circuit open")
	// ErrTimeout: the request outlived its pool's timeout.
	ErrTimeout = errors.New("nodeclient: request timed out")
	// ErrQueueTimeout wraps ErrTimeout: the request timed out while it
	// waited in the client and was never sent. It never counts against the
	// node's breaker: the client is busy, not the node.
	ErrQueueTimeout = fmt.Errorf("%w in the client queue", ErrTimeout)
	// ErrConnClosed: the connection failed or was closed before the reply
	// arrived; the request may or may not have been applied.
	ErrConnClosed = errors.New("nodeclient: connection closed")
	// ErrUnreachable: no connection could be made (dial or handshake
	// failed); the error also wraps the cause. It opens the breaker.
	ErrUnreachable = errors.New("nodeclient: node unreachable")
	// ErrClosed: the Node was closed.
	ErrClosed = errors.New("nodeclient: node closed")
	// ErrNoMeta: the operation needs the meta protocol (leases,
	// invalidation, SwapTTL) but the node speaks only the text protocol.
	ErrNoMeta = errors.New("nodeclient: node does not support the meta protocol")
)

// Refusals before anything is sent, and the node's error replies. They are
// the protocol codec's sentinels, named here so that callers can test them.
var (
	// ErrValueTooLarge: the value is longer than Config.MaxValueSize.
	ErrValueTooLarge = protocol.ErrValueTooLarge
	// ErrKeyEmpty: the key is empty.
	ErrKeyEmpty = protocol.ErrKeyEmpty
	// ErrKeyTooLong: the key is longer than memcached's 250 bytes.
	ErrKeyTooLong = protocol.ErrKeyTooLong
	// ErrKeyBadChar: the key holds a space or a control character.
	ErrKeyBadChar = protocol.ErrKeyBadChar
	// ErrServerError: the node answered SERVER_ERROR (out of memory, for
	// example); the connection stays usable.
	ErrServerError = protocol.ErrServerError
	// ErrClientError: the node answered CLIENT_ERROR: it refused the
	// request (a non-numeric value for Incr, for example).
	ErrClientError = protocol.ErrClientError
)
