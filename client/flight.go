package client

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// ErrLoaderPanicked is wrapped by the error a lookup or loader returns when
// the function panicked. The panic is recovered so that it releases the key
// and fails every waiter instead of wedging them.
var ErrLoaderPanicked = errors.New("zonecache: loader panicked")

// flightGroup de-duplicates concurrent calls for one key within a process:
// the first caller starts the call, later callers join it, and all get its
// result. Unlike a plain singleflight, the call runs on its own goroutine
// under a context detached from any one caller, so that one caller's
// cancellation never fails the others; each caller waits on its own context
// and leaves alone when it ends. When every caller has left, the call's
// context is cancelled. A panic in the call is recovered and returned to
// every waiter as an error wrapping ErrLoaderPanicked.
//
// With inline set, the caller that starts a call runs it on its own
// goroutine (no hand-off, the common uncontended case costs no goroutine),
// which requires fn to return promptly once its context ends. If that
// caller's context ends while others wait, the call is interrupted, the
// caller leaves with its context's error, and the call restarts on a
// goroutine of its own for the callers that remain.
//
// Calls are spread over flightShards shards by key, each with its own
// lock: with one lock for the group, every Get of every worker queued on
// it, and a holder descheduled on a busy machine made them all wait.
type flightGroup[T any] struct {
	inline bool
	shards [flightShards]flightShard[T]
}

// flightShards is the number of shards of a flightGroup.
const flightShards = 32

// flightShard is one shard of a flightGroup: the calls of its keys.
type flightShard[T any] struct {
	mu      sync.Mutex
	flights map[string]*flight[T]
}

// do runs fn once for key among concurrent callers. shared reports whether
// the result came from a call started by another caller.
func (g *flightGroup[T]) do(ctx context.Context, key string, fn func(context.Context) (T, error)) (val T, shared bool, err error) {
	return g.shard(key).do(ctx, key, g.inline, fn)
}

// shard is key's shard.
func (g *flightGroup[T]) shard(key string) *flightShard[T] {
	return &g.shards[xxhash.Sum64String(key)%flightShards]
}

// inFlight reports how many calls are running; for tests and metrics.
func (g *flightGroup[T]) inFlight() int {
	n := 0
	for i := range g.shards {
		n += g.shards[i].inFlight()
	}
	return n
}

type flight[T any] struct {
	key     string
	done    chan struct{}
	val     T
	err     error
	waiters int
	cancel  context.CancelFunc
}

// do is flightGroup.do within the shard.
func (g *flightShard[T]) do(ctx context.Context, key string, inline bool, fn func(context.Context) (T, error)) (val T, shared bool, err error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = make(map[string]*flight[T])
	}
	f, joined := g.flights[key]
	if !joined {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight[T]{key: key, done: make(chan struct{}), cancel: cancel}
		g.flights[key] = f
		if inline {
			f.waiters++
			g.mu.Unlock()
			return g.lead(ctx, fctx, f, fn)
		}
		go g.run(fctx, f, fn)
	}
	f.waiters++
	g.mu.Unlock()

	select {
	case <-f.done:
		g.leave(f)
		return f.val, joined, f.err
	case <-ctx.Done():
		g.leave(f)
		var zero T
		return zero, joined, ctx.Err()
	}
}

// leave drops one waiter. The last one out cancels a call still running
// and removes it, so that a later caller starts afresh instead of joining a
// cancelled call.
func (g *flightShard[T]) leave(f *flight[T]) {
	g.mu.Lock()
	f.waiters--
	last := f.waiters == 0
	if last && g.flights[f.key] == f {
		delete(g.flights, f.key)
	}
	g.mu.Unlock()
	if last {
		f.cancel()
	}
}

// lead runs the call on the starting caller's goroutine (inline mode).
func (g *flightShard[T]) lead(ctx, fctx context.Context, f *flight[T], fn func(context.Context) (T, error)) (T, bool, error) {
	actx, interrupt := context.WithCancel(fctx)
	left := false
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		left = true
		g.mu.Unlock()
		interrupt()
	})
	val, err := protect(actx, fn)
	stop()
	interrupt()
	g.mu.Lock()
	if left && actx.Err() != nil && err != nil {
		// This caller's context ended and cut the call short: leave, and
		// let the others (if any) have the call run afresh.
		f.waiters--
		if f.waiters > 0 {
			g.mu.Unlock()
			go g.run(fctx, f, fn)
		} else {
			if g.flights[f.key] == f {
				delete(g.flights, f.key)
			}
			g.mu.Unlock()
			f.cancel()
		}
		var zero T
		return zero, false, ctx.Err()
	}
	f.val, f.err = val, err
	f.waiters--
	if g.flights[f.key] == f {
		delete(g.flights, f.key)
	}
	g.mu.Unlock()
	close(f.done)
	f.cancel()
	return val, false, err
}

// protect runs fn, turning a panic into an error wrapping
// ErrLoaderPanicked.
func protect[T any](ctx context.Context, fn func(context.Context) (T, error)) (val T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			val, err = zero, fmt.Errorf("%w: %v\n%s", ErrLoaderPanicked, r, debug.Stack())
		}
	}()
	return fn(ctx)
}

func (g *flightShard[T]) run(ctx context.Context, f *flight[T], fn func(context.Context) (T, error)) {
	defer func() {
		if r := recover(); r != nil {
			f.err = fmt.Errorf("%w: %v\n%s", ErrLoaderPanicked, r, debug.Stack())
		}
		g.mu.Lock()
		if g.flights[f.key] == f {
			delete(g.flights, f.key)
		}
		g.mu.Unlock()
		close(f.done)
	}()
	f.val, f.err = fn(ctx)
}

// inFlight reports how many calls of the shard are running.
func (g *flightShard[T]) inFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.flights)
}
