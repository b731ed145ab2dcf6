package client

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReturnQuarantine is Config.ReturnQuarantine's default: the time,
// from a node's breaker closing again, during which this client takes no
// hits from it. It covers the other clients' repair delay for a returning
// node: their next probe (at most DefaultProbeMax plus 20 % jitter, after
// a probe that may take ProbeTimeout, 500 ms), their repairs, and their
// recheck (DefaultRepairRecheck), with a margin for a loaded machine.
const DefaultReturnQuarantine = 4 * time.Second

// DefaultProbeMax is the client's default for Node.Breaker.ProbeMax
// (the transport's own is 10 s): an open breaker probes its node at least
// every second (plus jitter), so that a writer's repairs of a returning
// node run within about 1.7 s of its return and ReturnQuarantine can be
// short.
const DefaultProbeMax = time.Second

// quarantine holds the nodes whose breaker closed again less than
// Config.ReturnQuarantine ago. While this client's breaker of a node was
// open, writes of other clients (and its own) may have missed the node;
// their repairs reach it only once their own breakers close, on their own
// probe schedule. Until then the node's copies may be older than
// acknowledged writes, so reads treat them as misses and go on to the next
// zone. Writes and repairs go to the node as usual.
type quarantine struct {
	period time.Duration
	// active counts quarantined nodes: the read path loads it once and
	// looks no further while it is zero.
	active atomic.Int32
	mu     sync.Mutex
	until  map[string]time.Time // by node address
}

func newQuarantine(period time.Duration) *quarantine {
	return &quarantine{period: period, until: make(map[string]time.Time)}
}

// start quarantines the node at addr from now on (its breaker closed).
func (q *quarantine) start(addr string, now time.Time) {
	if q.period <= 0 {
		return
	}
	end := now.Add(q.period)
	q.mu.Lock()
	if _, ok := q.until[addr]; !ok {
		q.active.Add(1)
	}
	q.until[addr] = end
	q.mu.Unlock()
	time.AfterFunc(q.period, func() { q.expire(addr) })
}

// expire lifts the quarantine of addr if it has ended (a later start
// extends it and schedules its own expiry).
func (q *quarantine) expire(addr string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if end, ok := q.until[addr]; ok && !time.Now().Before(end) {
		delete(q.until, addr)
		q.active.Add(-1)
	}
}

// has reports whether the node at addr is quarantined: one atomic load
// while no node is.
func (q *quarantine) has(addr string) bool {
	if q.active.Load() == 0 {
		return false
	}
	q.mu.Lock()
	end, ok := q.until[addr]
	q.mu.Unlock()
	return ok && time.Now().Before(end)
}

// quarantined reports whether m's node returned less than
// ReturnQuarantine ago, counting the read it turns into a miss.
func (cc *core) quarantined(m *member) bool {
	if !cc.quar.has(m.node.Addr) {
		return false
	}
	cc.metrics.quarantinedReads.Inc()
	return true
}
