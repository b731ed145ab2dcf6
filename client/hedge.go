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
// without the prefetch; the prefetches not needed are cancelled. T is
// what a zone answered (fetched for Get, a zone's nodes' for GetMulti).
type prefetch[T any] struct {
	timer  *time.Timer
	fired  chan struct{} // closed once res is filled in
	res    []chan T      // by index in the read order; nil up to i
	cancel context.CancelFunc
}

// armPrefetch arms a prefetch of the zones after the i-th of n, each
// asked by fetch, started after d; firing after d > 0 counts a hedged read
// (an eager read, d = 0, is not one).
func armPrefetch[T any](ctx context.Context, m *metrics, d time.Duration, i, n int, fetch func(ctx context.Context, j int) T) *prefetch[T] {
	pf := &prefetch[T]{fired: make(chan struct{})}
	pf.timer = time.AfterFunc(d, func() {
		if d > 0 {
			m.hedgedReads.Inc()
		}
		var hctx context.Context
		hctx, pf.cancel = context.WithCancel(ctx)
		pf.res = make([]chan T, n)
		for j := i + 1; j < n; j++ {
			ch := make(chan T, 1)
			pf.res[j] = ch
			go func() { ch <- fetch(hctx, j) }()
		}
		close(pf.fired)
	})
	return pf
}

// hedge arms a prefetch of the zones after the i-th, started if the i-th
// zone's replica has not answered within Config.ReadHedge; nil when
// there is nothing to prefetch (hedging off, a touch, the last zone, or
// every later replica's breaker open).
func (r *readCall) hedge(ctx context.Context, i int, tr *readTrace) *prefetch[fetched] {
	m := r.v.readReplica(r.v.order[i], r.k.node)
	if tr != nil || m == nil || r.v.order[i] == r.skip || !r.laterUp(i) {
		return nil
	}
	d := r.c.hedgeDelay(m)
	if d < 0 {
		return nil
	}
	if r.eager {
		d = 0
	}
	return armPrefetch(ctx, r.c.c.metrics, d, i, len(r.v.order), func(ctx context.Context, j int) fetched {
		return r.fetch(ctx, r.v.order[j], nil)
	})
}

// hedgeDelay is how long a request to m goes unanswered before the
// later steps of its read start: Config.ReadHedge, by default m's pool
// timeout / DefaultReadHedgeDivisor; negative: never.
func (c *Client) hedgeDelay(m *member) time.Duration {
	if d := c.c.cfg.ReadHedge; d != 0 {
		return d
	}
	return m.tn.Pool(c.class).Timeout() / DefaultReadHedgeDivisor
}

// laterUp reports whether a replica after the i-th zone's may answer: it
// exists and its breaker is closed.
func (r *readCall) laterUp(i int) bool {
	for _, zone := range r.v.order[i+1:] {
		if n := r.v.readReplica(zone, r.k.node); n != nil && zone != r.skip && n.tn.State() != nodeclient.StateOpen {
			return true
		}
	}
	return false
}

// await is called once the slow zone answered: it returns the prefetch if
// it started (waiting for its requests to be under way), else disarms it
// and returns nil.
func (pf *prefetch[T]) await() *prefetch[T] {
	if pf == nil || pf.timer.Stop() {
		return nil
	}
	<-pf.fired
	return pf
}

// stop cancels the prefetched requests still running (the read is over).
func (pf *prefetch[T]) stop() {
	if pf != nil && pf.cancel != nil {
		pf.cancel()
	}
}

// probe is GetOrLoad's hedge. Its lookup goes step after step (the local
// replica when the lease zone is another, the lease lookup, a fallback
// read); when a step has not answered within the read hedge, a read of
// every zone at once starts. The lookup waits for it before its next step
// and its fallback takes its answer, so a frozen tier costs GetOrLoad one
// timeout, not one per step: by then each frozen node has timed out once
// and its breaker is open, and a value loaded when no replica answered is
// not stored (plainLoad).
type probe struct {
	timer  *time.Timer
	fired  chan struct{} // closed once the read started
	done   chan struct{} // closed once it and err are set
	it     Item
	err    error
	cancel context.CancelFunc
	// Owned by the lookup: disarmed (the timer stopped), and ran.
	disarmed, ran bool
}

// armProbe arms the probe of a GetOrLoad lookup of k, whose first request
// goes to first; nil with hedging off or no first replica.
func (c *Client) armProbe(ctx context.Context, first *member, k nodeKey) *probe {
	if first == nil || c.hedgeDelay(first) < 0 {
		return nil
	}
	p := &probe{fired: make(chan struct{}), done: make(chan struct{})}
	p.timer = time.AfterFunc(c.hedgeDelay(first), func() {
		c.c.metrics.hedgedReads.Inc()
		var pctx context.Context
		pctx, p.cancel = context.WithCancel(ctx)
		go func() {
			p.it, p.err = c.readEager(pctx, k)
			close(p.done)
		}()
		close(p.fired)
	})
	return p
}

// started reports whether the probe's read started, without disarming it.
func (p *probe) started() bool {
	if p == nil {
		return false
	}
	select {
	case <-p.fired:
		return true
	default:
		return false
	}
}

// disarm stops the probe's timer if it has not fired, and reports whether
// the read started (its answer is then for wait).
func (p *probe) disarm() bool {
	if p == nil {
		return false
	}
	if !p.disarmed {
		p.disarmed = true
		if p.ran = !p.timer.Stop(); p.ran {
			<-p.fired
		}
	}
	return p.ran
}

// wait returns the answer of a started probe.
func (p *probe) wait(ctx context.Context) (Item, error) {
	select {
	case <-p.done:
		return p.it, p.err
	case <-ctx.Done():
		return Item{}, ctx.Err()
	}
}

// stop disarms the probe and cancels its read if still running (the
// lookup is over).
func (p *probe) stop() {
	if p.disarm() {
		p.cancel()
	}
}
