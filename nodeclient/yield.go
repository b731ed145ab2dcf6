package nodeclient

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

// maxYieldPause bounds one pause of the batch pool's pacing, so that a slow
// batch request (up to the batch Timeout) cannot stop the pool for longer.
const maxYieldPause = 100 * time.Millisecond

// gate admits the batch pool's requests: up to MaxInFlight while the node's
// online pool is idle, up to YieldConfig.InFlight while it is active, and
// then none during the pause that follows each request (pacing, Share).
// Waiters are admitted in arrival order; whoever frees a slot hands it on,
// and a timer ends a pause, so a waiter sleeps until it is admitted or its
// context or timeout ends.
type gate struct {
	max     int // MaxInFlight
	yield   int // in flight while online is active; max when yielding is off
	window  time.Duration
	online  *onlineActivity
	yielded *atomic.Uint64 // counts waits caused by online activity

	chunk    int           // GetMulti keys per request while online is active; ≤ 0: whole
	share    float64       // of the time batch may be busy while online is active; 1: no pacing
	maxPause time.Duration // bounds one pause (maxYieldPause; tests change it)

	mu       sync.Mutex
	inFlight int
	waiters  []*gateWaiter // FIFO; admitted ones are removed
	free     []*gateWaiter // recycled waiters
	paused   int64         // unix nanos: no admissions before, while online is active
	timer    *time.Timer   // wakes the gate at paused
	armed    int64         // when timer fires, 0 if stopped
}

// gateWaiter is one caller waiting at the gate. admitted is written under
// the gate's mutex; ready has capacity 1 and carries the admission.
type gateWaiter struct {
	ready    chan struct{}
	admitted bool
}

func newGate(max int, y YieldConfig, online *onlineActivity, yielded *atomic.Uint64) *gate {
	g := &gate{max: max, yield: max, window: y.Window, online: online, yielded: yielded, share: 1, maxPause: maxYieldPause}
	if !y.Disabled {
		g.yield = min(y.InFlight, max)
		g.chunk = y.Chunk
		g.share = min(y.Share, 1)
	}
	g.timer = time.AfterFunc(time.Hour, g.wake)
	g.timer.Stop()
	return g
}

// limit is the number of requests that may be in flight now. Called with
// mu held.
func (g *gate) limit() int {
	if (g.yield < g.max || g.share < 1) && g.online.active(g.window) {
		if g.paused != 0 && time.Now().UnixNano() < g.paused {
			return 0
		}
		return g.yield
	}
	return g.max
}

// wake admits waiters when a pause ends.
func (g *gate) wake() {
	g.mu.Lock()
	g.armed = 0
	g.admit()
	g.arm() // the pause may have been extended since the timer was set
	g.mu.Unlock()
}

// arm makes sure the timer wakes the gate when the pause ends, if callers
// wait. Called with mu held.
func (g *gate) arm() {
	if len(g.waiters) == 0 || g.paused == 0 {
		return
	}
	now := time.Now().UnixNano()
	if g.paused <= now || (g.armed != 0 && g.armed <= g.paused) {
		return
	}
	g.armed = g.paused
	g.timer.Reset(time.Duration(g.paused - now))
}

// acquire takes a slot, waiting for one until ctx ends (ctx.Err()) or
// deadline fires (ErrTimeout).
func (g *gate) acquire(ctx context.Context, deadline <-chan time.Time) (start int64, err error) {
	g.mu.Lock()
	lim := g.limit()
	if len(g.waiters) == 0 && g.inFlight < lim {
		g.inFlight++
		g.mu.Unlock()
		return time.Now().UnixNano(), nil
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
	g.arm()
	g.mu.Unlock()

	select {
	case <-w.ready:
		g.recycle(w)
		return time.Now().UnixNano(), nil
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
	return 0, err
}

func (g *gate) recycle(w *gateWaiter) {
	g.mu.Lock()
	g.free = append(g.free, w)
	g.mu.Unlock()
}

// release frees a slot and admits as many waiters as the limit allows.
func (g *gate) release(start int64) {
	g.mu.Lock()
	g.inFlight--
	if g.share < 1 && g.online.active(g.window) {
		now := time.Now().UnixNano()
		pause := min(int64(float64(now-start)*(1-g.share)/g.share), int64(g.maxPause))
		g.paused = max(g.paused, now+pause)
	}
	g.admit()
	g.arm()
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

// yieldChunk is how many keys a batch GetMulti sends per request while
// online traffic is active (0: all at once).
func (p *Pool) yieldChunk() int {
	if p.gate == nil || p.gate.chunk <= 0 || !p.node.activity.active(p.gate.window) {
		return 0
	}
	return p.gate.chunk
}
