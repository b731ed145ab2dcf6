package consistency

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/nodeclient"
)

// inflight follows one write's replica requests through the client's
// OnAttempt hook, which runs with the caller's context (a copy without
// its cancellation for the replicas completed in the background), to learn
// when the last of them answered.
type inflight struct {
	mu    sync.Mutex
	seen  int
	total int // -1 until the call returned and said how many
	last  time.Time
	done  func(at time.Time)
	// w is the write followed; each replica's answer is a NodeEvent.
	w Write
}

type inflightKey struct{}

func withInflight(ctx context.Context, w Write, done func(time.Time)) (context.Context, *inflight) {
	f := &inflight{total: -1, done: done, w: w}
	return context.WithValue(ctx, inflightKey{}, f), f
}

// attempt counts one replica's answer.
func (f *inflight) attempt(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen++
	f.last = at
	if f.seen == f.total {
		f.done(at)
	}
}

// returned records how many replicas the call sent the write to.
func (f *inflight) returned(replicas int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total = replicas
	if f.seen == f.total && replicas > 0 {
		f.done(f.last)
	}
}

// InflightHook is the client hook the writer's client needs for
// Write.Done; it records in rec each replica's answer to a write, each
// delete the write sent a former owner of its key (not a replica: Done
// does not wait for it) and each repair as a NodeEvent, and chains to
// next, if any.
func InflightHook(rec Recorder, next func(context.Context, client.AttemptEvent)) func(context.Context, client.AttemptEvent) {
	return func(ctx context.Context, e client.AttemptEvent) {
		now := time.Now()
		f, ok := ctx.Value(inflightKey{}).(*inflight)
		switch {
		case ok && (e.Op == "set" || e.Op == "delete"):
			f.attempt(now)
			rec.AddNodeEvent(nodeEvent(f.w.Key, f.w.Version, now, e))
		case ok && e.Op == opFormerDelete:
			rec.AddNodeEvent(nodeEvent(f.w.Key, f.w.Version, now, e))
		case e.Op == "repair":
			rec.AddNodeEvent(nodeEvent(e.Key, 0, now, e))
		}
		if next != nil {
			next(ctx, e)
		}
	}
}

// opFormerDelete is client.AttemptEvent.Op of a write's delete at a
// former owner of its key (client.Config.FormerOwnerWindow).
const opFormerDelete = "former_delete"

// nodeEvent is the writer's NodeEvent of attempt e.
func nodeEvent(key string, version uint64, at time.Time, e client.AttemptEvent) NodeEvent {
	ev := NodeEvent{Key: key, Node: e.Node, Op: e.Op, Version: version, At: at, OK: answered(e.Err), Who: "writer"}
	if !ev.OK {
		ev.Fail = failClass(e.Err)
	}
	return ev
}

// answered reports whether a node answered a write (a delete of a key it
// did not hold included): it applied it.
func answered(err error) bool {
	return err == nil || errors.Is(err, nodeclient.ErrNotFound) || errors.Is(err, nodeclient.ErrNotStored)
}
