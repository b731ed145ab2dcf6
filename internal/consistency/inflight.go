package consistency

import (
	"context"
	"sync"
	"time"

	"github.com/zonecache/zonecache/client"
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
}

type inflightKey struct{}

func withInflight(ctx context.Context, done func(time.Time)) (context.Context, *inflight) {
	f := &inflight{total: -1, done: done}
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
// Write.Done; it chains to next, if any.
func InflightHook(next func(context.Context, client.AttemptEvent)) func(context.Context, client.AttemptEvent) {
	return func(ctx context.Context, e client.AttemptEvent) {
		if f, ok := ctx.Value(inflightKey{}).(*inflight); ok && (e.Op == "set" || e.Op == "delete") {
			f.attempt(time.Now())
		}
		if next != nil {
			next(ctx, e)
		}
	}
}
