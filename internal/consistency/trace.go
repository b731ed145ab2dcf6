package consistency

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/nodeclient"
)

// NodeEvent is one request that changed a key on one node, seen through a
// client's OnAttempt hook: a writer's set or delete of a version, its
// delete at a former owner of the key with a write of a version, the
// writer's repair (a delete queued for a replica that failed), or a
// reader's read repair (an Add of a value found in another zone). The
// checker uses them to tell the causes of stale reads apart.
type NodeEvent struct {
	Key  string
	Node string
	// Op is set, delete, former_delete, repair or read_repair.
	Op string
	// Version is the write's version (0 for repairs and read repairs).
	Version uint64
	// At is when the node answered (or the request failed); OK says it
	// applied the request (for a read repair: the Add stored the value).
	At time.Time
	OK bool
	// Who is "writer" or "reader <zone>".
	Who string
	// Fail classifies a failure (failClass): timeout, circuit-open,
	// conn-closed, unreachable, closed or other.
	Fail string
}

// failClass names the class of a failed request's error, one word.
func failClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, nodeclient.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, nodeclient.ErrCircuitOpen):
		return "circuit-open"
	case errors.Is(err, nodeclient.ErrConnClosed):
		return "conn-closed"
	case errors.Is(err, nodeclient.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, nodeclient.ErrClosed):
		return "closed"
	}
	return "other"
}

// AddNodeEvent records a node event.
func (h *History) AddNodeEvent(e NodeEvent) {
	h.mu.Lock()
	h.nodeEvents = append(h.nodeEvents, e)
	h.mu.Unlock()
}

// readTrace follows one read through the reader client's OnAttempt hook:
// the node that answered with the value.
type readTrace struct {
	mu         sync.Mutex
	node, zone string
}

type readTraceKey struct{}

// ReaderHook is the OnAttempt hook of a reader's client in zone: it tells
// each read which node answered it (through the read's context) and
// records the client's read repairs in h.
func ReaderHook(h *History, zone string) func(context.Context, client.AttemptEvent) {
	return func(ctx context.Context, e client.AttemptEvent) {
		switch e.Op {
		case "get":
			if t, ok := ctx.Value(readTraceKey{}).(*readTrace); ok && e.Err == nil {
				t.mu.Lock()
				t.node, t.zone = e.Node, e.Zone
				t.mu.Unlock()
			}
		case "read_repair":
			ev := NodeEvent{Key: e.Key, Node: e.Node, Op: e.Op, At: time.Now(), OK: e.Err == nil, Who: "reader " + zone}
			if !errors.Is(e.Err, nodeclient.ErrNotStored) {
				ev.Fail = failClass(e.Err)
			}
			h.AddNodeEvent(ev)
		}
	}
}

// answered is the node and zone that answered the traced read.
func (t *readTrace) answered() (node, zone string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.node, t.zone
}
