package client

import (
	"errors"

	"github.com/zonecache/zonecache/internal/transport"
)

// Sentinel errors of the client; test them with errors.Is. Errors from a
// node wrap the node's error, so transport-level causes (a timeout, an open
// circuit) can be told apart with errors.Is too.
var (
	// ErrCacheMiss: no zone that answered had the key.
	ErrCacheMiss = errors.New("zonecache: cache miss")
	// ErrNotStored: a conditional write (Add, Replace, Append, Prepend) did
	// not apply: for Add the key exists, for the others it is missing.
	ErrNotStored = errors.New("zonecache: not stored")
	// ErrCASConflict: the item changed since it was read.
	ErrCASConflict = errors.New("zonecache: CAS conflict")
	// ErrNotFound: a mutation (Touch, Incr, Decr, CompareAndSwap) found no
	// item on any replica.
	ErrNotFound = errors.New("zonecache: not found")
	// ErrUnavailable: no zone could answer a read at all (every replica
	// asked failed, or none exists), or a write reached no replica.
	ErrUnavailable = errors.New("zonecache: no replica could answer")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("zonecache: client closed")
	// ErrInvalidConfig: Config or a Topology cannot be used.
	ErrInvalidConfig = errors.New("zonecache: invalid config")
	// ErrInvalidKey: the key is empty.
	ErrInvalidKey = errors.New("zonecache: invalid key")
	// ErrKeyHashed: the operation (Append, Prepend, Incr, Decr) cannot work
	// on a key that is stored under its hash with an envelope (see Config).
	ErrKeyHashed = errors.New("zonecache: operation not supported on a hashed key")
	// ErrInjected is the default error of a fault-injection rule.
	ErrInjected = errors.New("zonecache: injected fault")
)

// outcome reports whether err is an answer from a node (the node worked,
// the operation's condition did not hold) rather than a failure of the
// node. Answers count as successes for the write policy.
func outcome(err error) bool {
	return err == nil || errors.Is(err, transport.ErrNotStored) || errors.Is(err, transport.ErrNotFound) ||
		errors.Is(err, transport.ErrCASConflict) || errors.Is(err, transport.ErrCacheMiss)
}

// translate maps transport outcome sentinels to the client's and leaves
// other errors as they are.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, transport.ErrCacheMiss):
		return ErrCacheMiss
	case errors.Is(err, transport.ErrNotStored):
		return ErrNotStored
	case errors.Is(err, transport.ErrCASConflict):
		return ErrCASConflict
	case errors.Is(err, transport.ErrNotFound):
		return ErrNotFound
	}
	return err
}
