package server

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zonecache/zonecache/server/internal/store"
)

// Causes of an invalidation of the whole store, the label values of
// zonecache_server_invalidations_total.
const (
	// CausePause: the process did not run (SIGSTOP, a VM or GC pause) for
	// longer than Config.PauseBound, so the fleet may have dropped it.
	CausePause = "pause"
	// CauseIsolation: the node was cut off from most of its fleet and is
	// back (see SetIsolated).
	CauseIsolation = "isolation"
	// CauseRefuted: the fleet declared the node dead and it refuted.
	CauseRefuted = "refuted"
)

// fenceClosed is the heartbeat value while the node is isolated: older
// than any bound, so every check fails.
const fenceClosed = int64(-1) << 62

// fenceState is what a batch of commands may do, from fence.check.
type fenceState uint8

const (
	// fenceOpen: serve as usual.
	fenceOpen fenceState = iota
	// fenceWriteOnly: just invalidated (the quarantine) or leaving the
	// fleet; retrievals miss, storage commands apply.
	fenceWriteOnly
	// fenceIsolated: cut off from the fleet; retrievals miss, storage
	// commands are refused.
	fenceIsolated
)

// fence keeps a node that may have been out of its fleet's topology from
// serving what it held before: writes made while it was absent never
// reached it. A heartbeat goroutine stamps beat every tick; every batch a
// connection reads checks the stamp's age (one atomic load and a
// monotonic clock read) and, when it is older than bound, the store is
// flushed before anything is served. While isolated, beat holds
// fenceClosed and retrievals miss. After a flush, retrievals miss for the
// quarantine too (see Config.RejoinQuarantine).
type fence struct {
	s          *Server
	bound      int64     // nanoseconds; 0 disables the fence
	quarantine int64     // nanoseconds; <= 0: none
	base       time.Time // monotonic origin of beat
	beat       atomic.Int64
	// quarantinedUntil is when the last flush's quarantine ends, on the
	// now() clock; 0 once it ended.
	quarantinedUntil atomic.Int64
	// gen counts invalidations: a connection opened before the last one
	// is closed before it runs another command (see conn.stale).
	gen atomic.Uint64

	// left is set for good by Leaving: no hits, writes taken.
	left atomic.Bool

	mu       sync.Mutex // serialises reopening, isolation and flushes
	isolated bool
	count    *prometheus.CounterVec
	fenced   prometheus.Gauge
	stop     chan struct{}
	done     chan struct{}
}

// heartbeatTick is how often the heartbeat stamps the fence: a tenth of
// the bound, between 5 and 50 ms.
func heartbeatTick(bound time.Duration) time.Duration {
	return min(max(bound/10, 5*time.Millisecond), 50*time.Millisecond)
}

func newFence(s *Server, bound, quarantine time.Duration, reg prometheus.Registerer) *fence {
	f := &fence{s: s, bound: int64(bound), quarantine: int64(quarantine), base: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
	f.count = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "zonecache", Subsystem: "server", Name: "invalidations_total",
		Help: "Times the whole store was invalidated because the node may have been out of the fleet's topology, by cause " +
			"(pause: the process did not run for longer than the pause bound; isolation: cut off from most of the fleet, then back; " +
			"refuted: the fleet declared the node dead).",
	}, []string{"cause"})
	for _, c := range []string{CausePause, CauseIsolation, CauseRefuted} {
		f.count.WithLabelValues(c)
	}
	f.fenced = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "zonecache", Subsystem: "server", Name: "isolated",
		Help: "1 while the node is cut off from most of its fleet and serves no hits, else 0.",
	})
	reg.MustRegister(f.count, f.fenced)
	f.beat.Store(f.now())
	if bound > 0 {
		go f.heartbeat(heartbeatTick(bound))
	} else {
		close(f.done)
	}
	return f
}

func (f *fence) now() int64 { return int64(time.Since(f.base)) }

// check reports what the node may do now. It flushes the store first
// when the heartbeat is older than the bound (the process was paused).
func (f *fence) check() fenceState {
	if f.left.Load() {
		return fenceWriteOnly
	}
	if f.bound > 0 && f.now()-f.beat.Load() > f.bound && !f.reopen() {
		return fenceIsolated
	}
	if until := f.quarantinedUntil.Load(); until != 0 {
		if f.now() < until {
			return fenceWriteOnly
		}
		// A flush meanwhile stored a later end: keep it.
		f.quarantinedUntil.CompareAndSwap(until, 0)
	}
	return fenceOpen
}

// reopen flushes the store after a pause and restarts the heartbeat; it
// reports false, flushing nothing, while the node is isolated.
func (f *fence) reopen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.isolated {
		return false
	}
	now := f.now()
	if gap := now - f.beat.Load(); gap > f.bound {
		f.flush(CausePause, "no heartbeat for", time.Duration(gap).Round(time.Millisecond))
		f.beat.Store(f.now())
	}
	return true
}

// heartbeat stamps the fence every tick until stop; a late tick (the
// process was paused) goes through reopen, which flushes.
func (f *fence) heartbeat(tick time.Duration) {
	defer close(f.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		b := f.beat.Load()
		if b == fenceClosed {
			continue
		}
		if now := f.now(); now-b > f.bound {
			f.reopen()
		} else {
			f.beat.CompareAndSwap(b, now) // lost to SetIsolated or reopen: fine
		}
	}
}

// flush invalidates the store and retires every open connection: what
// they still carry was sent before the node may have been dropped (a
// client that gave up on a write, its bytes queued in the kernel during a
// pause), and must not be applied after the writes made meanwhile. f.mu
// is held.
func (f *fence) flush(cause string, args ...any) {
	f.gen.Add(1)
	// A time long past: the flush is immediate even when the clocks the
	// store and server read were last ticked before a pause (Flush with
	// "now" would then be a delayed flush, due when they catch up).
	f.s.store.Flush(time.Unix(0, 0))
	if f.quarantine > 0 {
		f.quarantinedUntil.Store(max(f.now()+f.quarantine, 1))
		args = append(args, "no hits for", time.Duration(f.quarantine))
	}
	f.count.WithLabelValues(cause).Inc()
	f.s.log.Warn("store invalidated: the node may have missed writes while out of the fleet", append([]any{"cause", cause}, args...)...)
}

func (f *fence) close() {
	if f.bound > 0 {
		close(f.stop)
	}
	<-f.done
}

// SetIsolated fences the node while it is cut off from most of its fleet
// (membership decides): retrievals (get, gets, gat, gats, mg, me) miss,
// incr, decr, touch and ma find nothing, and storage commands (set, add,
// replace, append, prepend, cas, ms) are refused with "SERVER_ERROR node
// cut off from its fleet": the node could neither serve such a write nor
// keep it, so no client may count it as acknowledged. Deletes apply. When
// the node is no longer isolated the store is flushed before the fence
// opens. Calls that change nothing are ignored.
func (s *Server) SetIsolated(isolated bool) {
	f := s.fence
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.isolated == isolated {
		return
	}
	f.isolated = isolated
	if isolated {
		f.beat.Store(fenceClosed)
		f.fenced.Set(1)
		s.log.Warn("isolated from most of the fleet: serving no hits until back")
		return
	}
	f.flush(CauseIsolation, "event", "back in contact with most of the fleet")
	f.beat.Store(f.now())
	f.fenced.Set(0)
}

// Leaving fences the node for good as it leaves its fleet (cmd/zonecached
// calls it on SIGTERM, before leaving the gossip): retrievals miss, incr,
// decr, touch and ma find nothing, as while isolated, but writes are taken
// (and never served), so that clients whose view still lists the node see
// no error. Clients that dropped the node send it no more writes, so what
// it holds may be older than writes made meanwhile, while those whose view
// lags still read it.
func (s *Server) Leaving() {
	if !s.fence.left.Swap(true) {
		s.log.Info("leaving the fleet: serving no hits")
	}
}

// InvalidateAll flushes the store at once, counting cause in
// zonecache_server_invalidations_total: membership calls it when the fleet
// declared this node dead (CauseRefuted), as writes made meanwhile did not
// reach it.
func (s *Server) InvalidateAll(cause string) {
	s.fence.mu.Lock()
	defer s.fence.mu.Unlock()
	s.fence.flush(cause)
}

// errRetired closes a connection opened before the last invalidation.
var errRetired = errors.New("server: connection opened before the node may have left its fleet")

// stale reports whether the connection was opened before the last
// invalidation: it is then closed without running what it still holds.
func (c *conn) stale() bool { return c.gen != c.s.fence.gen.Load() }

// blind makes an item read while the node is isolated or quarantined look
// absent. Storage commands do not call it: an add or cas during the
// quarantine must see what is really stored.
func (c *conn) blind(e *store.Entry) {
	if c.fence != fenceOpen {
		*e = store.Entry{}
	}
}
