package nodeclient

import (
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
)

// Call states: the caller and the connection race to move a call out of
// callPending; whoever loses owns nothing, whoever wins decides who recycles.
const (
	callPending int32 = iota
	callDone
	callAbandoned
)

// Request kinds.
const (
	kindGet byte = iota
	kindSet
	kindDelete
	kindArith
	kindNoop
	kindMulti
)

// call is one request in flight on a connection: what to encode, and where
// the reply goes. Calls are pooled per Pool.
type call struct {
	kind  byte
	key   string
	keys  []string // kindMulti
	value []byte   // kindSet
	args  protocol.Args

	opaque uint32 // first opaque token
	sentAt int64  // unix nanos when queued on the connection
	// written is when the buffer carrying the request was handed to a
	// write (unix nanos; 0: not yet), set under the connection's mutex
	// (blame.go).
	written atomic.Int64
	state   atomic.Int32
	done    chan struct{} // capacity 1
	timer   *time.Timer

	// The interrupt of the caller's own I/O (interrupt.go), set while it
	// is registered on the caller's context.
	cn       *conn
	stop     func() bool
	onCancel func()        // c.interrupt, bound once
	fired    chan struct{} // capacity 1: onCancel has finished

	// fence is the abandoning caller's Fence, released when the
	// connection finishes the call (abandon).
	fence Fence

	// Result, written by the connection's reader before completion.
	rep  protocol.Reply
	val  []byte // value of a VA reply (freshly allocated, handed to the caller)
	err  error
	hits []multiHit
}

type multiHit struct {
	idx  int
	item Item
}

func newCall() *call {
	t := time.NewTimer(time.Hour)
	t.Stop()
	c := &call{done: make(chan struct{}, 1), timer: t, fired: make(chan struct{}, 1)}
	c.onCancel = c.interrupt
	return c
}

// reset clears a call for reuse, keeping its buffers.
func (c *call) reset() {
	c.key, c.keys, c.value = "", nil, nil
	c.args = protocol.Args{}
	c.val, c.err = nil, nil
	c.hits = c.hits[:0]
	c.written.Store(0)
	c.state.Store(callPending)
}

// lines is the number of meta commands the call writes (its opaque range).
func (c *call) lines() uint32 {
	if c.kind == kindMulti {
		return uint32(len(c.keys))
	}
	return 1
}

// encode appends the call's request lines to dst with opaque tokens
// starting at c.opaque.
func (c *call) encode(dst []byte) []byte {
	a := &c.args
	switch c.kind {
	case kindGet:
		a.Flags |= protocol.WithOpaque
		a.Opaque = c.opaque
		return protocol.AppendGet(dst, c.key, a)
	case kindSet:
		a.Flags |= protocol.WithOpaque
		a.Opaque = c.opaque
		return protocol.AppendSet(dst, c.key, c.value, a)
	case kindDelete:
		a.Flags |= protocol.WithOpaque
		a.Opaque = c.opaque
		return protocol.AppendDelete(dst, c.key, a)
	case kindArith:
		a.Flags |= protocol.WithOpaque
		a.Opaque = c.opaque
		return protocol.AppendArith(dst, c.key, a)
	case kindNoop:
		return protocol.AppendNoop(dst)
	case kindMulti:
		a.Flags |= protocol.WithOpaque | protocol.FlagQuiet
		for i, k := range c.keys {
			a.Opaque = c.opaque + uint32(i)
			dst = protocol.AppendGet(dst, k, a)
		}
		return protocol.AppendNoop(dst)
	}
	panic("nodeclient: unknown call kind")
}
