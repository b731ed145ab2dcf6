package transport

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// onlineActivity tracks a node's online traffic for the batch gate: how many
// online requests are in flight and when the last one finished.
type onlineActivity struct {
	inFlight atomic.Int64
	lastEnd  atomic.Int64 // unix nanos
}

func (a *onlineActivity) begin() { a.inFlight.Add(1) }

func (a *onlineActivity) end() {
	a.lastEnd.Store(time.Now().UnixNano())
	a.inFlight.Add(-1)
}

// active reports whether online requests are in flight or one finished
// less than window ago.
func (a *onlineActivity) active(window time.Duration) bool {
	if a.inFlight.Load() > 0 {
		return true
	}
	return time.Now().UnixNano()-a.lastEnd.Load() < int64(window)
}

// gate admits the batch pool's requests: up to MaxInFlight while the node's
// online pool is idle, up to YieldConfig.InFlight while it is active. Waiters
// are admitted in arrival order; whoever frees a slot hands it on, so a
// waiter sleeps until it is admitted or its context or timeout ends.
type gate struct {
	max     int // MaxInFlight
	yield   int // in flight while online is active; max when yielding is off
	window  time.Duration
	online  *onlineActivity
	yielded *atomic.Uint64 // counts waits caused by online activity

	mu       sync.Mutex
	inFlight int
	waiters  []*gateWaiter // FIFO; admitted ones are removed
	free     []*gateWaiter // recycled waiters
}

// gateWaiter is one caller waiting at the gate. admitted is written under
// the gate's mutex; ready has capacity 1 and carries the admission.
type gateWaiter struct {
	ready    chan struct{}
	admitted bool
}

func newGate(max int, y YieldConfig, online *onlineActivity, yielded *atomic.Uint64) *gate {
	g := &gate{max: max, yield: max, window: y.Window, online: online, yielded: yielded}
	if !y.Disabled {
		g.yield = min(y.InFlight, max)
	}
	return g
}

// limit is the number of requests that may be in flight now. Called with
// mu held.
func (g *gate) limit() int {
	if g.yield < g.max && g.online.active(g.window) {
		return g.yield
	}
	return g.max
}

// acquire takes a slot, waiting for one until ctx ends (ctx.Err()) or
// deadline fires (ErrTimeout).
func (g *gate) acquire(ctx context.Context, deadline <-chan time.Time) error {
	g.mu.Lock()
	lim := g.limit()
	if len(g.waiters) == 0 && g.inFlight < lim {
		g.inFlight++
		g.mu.Unlock()
		return nil
	}
	if g.inFlight < g.max && lim < g.max {
		g.yielded.Add(1) // it would have gone at once without online traffic
	}
	var w *gateWaiter
	if n := len(g.free); n > 0 {
		w, g.free = g.free[n-1], g.free[:n-1]
		w.admitted = false
	} else {
		w = &gateWaiter{ready: make(chan struct{}, 1)}
	}
	g.waiters = append(g.waiters, w)
	g.admit() // the limit may have risen since the last release
	g.mu.Unlock()

	var err error
	select {
	case <-w.ready:
		g.recycle(w)
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-deadline:
		err = ErrTimeout
	}
	g.mu.Lock()
	if w.admitted { // admitted while giving up: pass the slot on
		<-w.ready
		g.inFlight--
		g.admit()
	} else {
		if i := slices.Index(g.waiters, w); i >= 0 {
			g.waiters = slices.Delete(g.waiters, i, i+1)
		}
	}
	g.free = append(g.free, w)
	g.mu.Unlock()
	return err
}

func (g *gate) recycle(w *gateWaiter) {
	g.mu.Lock()
	g.free = append(g.free, w)
	g.mu.Unlock()
}

// release frees a slot and admits as many waiters as the limit allows.
func (g *gate) release() {
	g.mu.Lock()
	g.inFlight--
	g.admit()
	g.mu.Unlock()
}

// admit hands free slots to waiters in order. Called with mu held.
func (g *gate) admit() {
	if len(g.waiters) == 0 {
		return
	}
	lim := g.limit()
	n := 0
	for n < len(g.waiters) && g.inFlight < lim {
		w := g.waiters[n]
		w.admitted = true
		w.ready <- struct{}{}
		g.inFlight++
		n++
	}
	if n > 0 {
		rest := copy(g.waiters, g.waiters[n:])
		clear(g.waiters[rest:])
		g.waiters = g.waiters[:rest]
	}
}

// taken returns the number of requests in flight.
func (g *gate) taken() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

// waiting returns the number of callers waiting at the gate.
func (g *gate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiters)
}
