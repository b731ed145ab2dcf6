package client

import (
	"context"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// DefaultReadHedgeDivisor sets Config.ReadHedge's default: the pool
// timeout divided by it (100 ms of the online pool's 500 ms).
const DefaultReadHedgeDivisor = 5

// tierDown reports whether every replica of key is known to be down: its
// node's breaker is open. Reads of such a key skip the cache at once.
func (v *view) tierDown(key string) bool {
	down := false
	for _, zone := range v.order {
		m := v.readReplica(zone, key)
		if m == nil {
			continue
		}
		if m.tn.State() != nodeclient.StateOpen {
			return false
		}
		down = true
	}
	return down
}

// prefetch asks the zones after the i-th of a read order at once, ahead of
// their turn, because the i-th zone's replica is slow to answer: a tier
// that stops answering (every node frozen) costs a read one timeout (plus
// ReadHedge), not one per zone. Each prefetched request has its own pool
// timeout, as a fallback's would: a slow local zone (an overloaded client
// queueing its requests) leaves the others their full time. The answers
// are still taken in read order: a replica that answers after all is
// preferred, and a dead one still times out and opens its breaker, as
// without the prefetch; the prefetches not needed are cancelled.
type prefetch struct {
	timer  *time.Timer
	fired  chan struct{}  // closed once res is filled in
	res    []chan fetched // by index in the read order; nil up to i
	cancel context.CancelFunc
}

// hedge arms a prefetch of the zones after the i-th, started if the i-th
// zone's replica has not answered within Config.ReadHedge; nil when
// there is nothing to prefetch (hedging off, a touch, the last zone, or
// every later replica's breaker open).
func (r *readCall) hedge(ctx context.Context, i int, tr *readTrace) *prefetch {
	m := r.v.readReplica(r.v.order[i], r.k.node)
	d := r.c.c.cfg.ReadHedge
	if tr != nil || d < 0 || m == nil || !r.laterUp(i) {
		return nil
	}
	if d == 0 {
		d = m.tn.Pool(r.c.class).Timeout() / DefaultReadHedgeDivisor
	}
	pf := &prefetch{fired: make(chan struct{})}
	pf.timer = time.AfterFunc(d, func() {
		r.c.c.metrics.hedgedReads.Inc()
		var hctx context.Context
		hctx, pf.cancel = context.WithCancel(ctx)
		pf.res = make([]chan fetched, len(r.v.order))
		for j := i + 1; j < len(r.v.order); j++ {
			ch := make(chan fetched, 1)
			pf.res[j] = ch
			go func() { ch <- r.fetch(hctx, r.v.order[j], nil) }()
		}
		close(pf.fired)
	})
	return pf
}

// laterUp reports whether a replica after the i-th zone's may answer: it
// exists and its breaker is closed.
func (r *readCall) laterUp(i int) bool {
	for _, zone := range r.v.order[i+1:] {
		if n := r.v.readReplica(zone, r.k.node); n != nil && n.tn.State() != nodeclient.StateOpen {
			return true
		}
	}
	return false
}

// await is called once the slow zone answered: it returns the prefetch if
// it started (waiting for its requests to be under way), else disarms it
// and returns nil.
func (pf *prefetch) await() *prefetch {
	if pf == nil || pf.timer.Stop() {
		return nil
	}
	<-pf.fired
	return pf
}

// stop cancels the prefetched requests still running (the read is over).
func (pf *prefetch) stop() {
	if pf != nil && pf.cancel != nil {
		pf.cancel()
	}
}
