package nodeclient

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// State is a circuit breaker state.
type State int32

// Breaker states.
const (
	// StateClosed: requests flow to the node.
	StateClosed State = iota
	// StateOpen: requests fail fast with ErrCircuitOpen while a background
	// prober waits for the node to answer.
	StateOpen
)

// String returns "closed" or "open".
func (s State) String() string {
	if s == StateOpen {
		return "open"
	}
	return "closed"
}

// breaker is one node's circuit breaker. The hot path (allow, success) is a
// single atomic load when the node is healthy.
type breaker struct {
	node  *Node
	cfg   BreakerConfig
	state atomic.Int32
	fails atomic.Int32

	mu      sync.Mutex // serialises transitions
	stop    chan struct{}
	stopped bool
	probing sync.WaitGroup

	// Flap damping, guarded by mu: when the breaker re-opens soon after
	// closing, probing resumes from the last delay instead of the initial
	// one, so a node that answers probes but fails requests costs callers
	// one timeout per growing probe period, not one per ProbeInitial.
	closedAt  time.Time
	lastDelay time.Duration
	// period is closed when the current open period ends (by a probe or
	// by an answer to a request sent through it), which stops its prober;
	// first is its first probe delay. Both guarded by mu.
	period chan struct{}
	first  time.Duration

	// dialFailedAt is when a dial last failed (unix nanos): while open,
	// requests sent through the breaker dial at most once per ProbeInitial.
	dialFailedAt atomic.Int64
	// through counts the requests sent through the open breaker that have
	// not finished (at most maxThrough).
	through atomic.Int32
}

// maxThrough bounds the requests sent through an open breaker at a time:
// enough for the writes to a live node slow for this client, few enough
// that writes to a silent one do not pile up waiting for their timeouts.
const maxThrough = 64

// throughKey marks a context made by ThroughOpenBreaker.
type throughKey struct{}

// ThroughOpenBreaker returns a context under which requests are sent even
// while the node's breaker is open: each gets its one attempt within the
// pool timeout, and an answer closes the breaker. It is for writes, which a
// request skipped would leave older data on a node that other clients may
// still read; reads stay failing fast.
func ThroughOpenBreaker(ctx context.Context) context.Context {
	return context.WithValue(ctx, throughKey{}, true)
}

func sentThrough(ctx context.Context) bool {
	through, _ := ctx.Value(throughKey{}).(bool)
	return through
}

func newBreaker(n *Node, cfg BreakerConfig) *breaker {
	return &breaker{node: n, cfg: cfg, stop: make(chan struct{})}
}

func (b *breaker) State() State { return State(b.state.Load()) }

// allow reports ErrCircuitOpen while the breaker is open, unless ctx sends
// requests through it (ThroughOpenBreaker) and no dial failed in the last
// ProbeInitial; through reports that it did.
func (b *breaker) allow(ctx context.Context) (through bool, err error) {
	if b.state.Load() != int32(StateOpen) {
		return false, nil
	}
	if b.passes(ctx) {
		if b.through.Add(1) <= maxThrough {
			return true, nil
		}
		b.through.Add(-1)
	}
	b.node.stats.fastFails.Add(1)
	return false, ErrCircuitOpen
}

// allowDial is allow for a new connection (the request was counted by
// allow): a dial that failed since then paces it too.
func (b *breaker) allowDial(ctx context.Context) error {
	if b.state.Load() != int32(StateOpen) || b.passes(ctx) {
		return nil
	}
	b.node.stats.fastFails.Add(1)
	return ErrCircuitOpen
}

// passes reports whether a request under ctx may pass the open breaker:
// sent through it, and no dial failed in the last ProbeInitial, so that
// writes to a dead node neither dial it each nor do any other work.
func (b *breaker) passes(ctx context.Context) bool {
	return sentThrough(ctx) && time.Now().UnixNano()-b.dialFailedAt.Load() >= int64(b.cfg.ProbeInitial)
}

// success records an answer from the node.
func (b *breaker) success() {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
}

// sentWhileOpen records the end of a request sent through the open
// breaker: a reply from the node closes it, as a probe's would.
func (b *breaker) sentWhileOpen(done bool, err error) {
	b.through.Add(-1)
	if done && isAnswer(err) {
		b.closeAfterAnswer(nil, 0)
	}
}

// isAnswer reports whether err (nil included) is a reply of the node.
func isAnswer(err error) bool {
	return err == nil || errors.Is(err, ErrCacheMiss) || errors.Is(err, ErrNotStored) ||
		errors.Is(err, ErrNotFound) || errors.Is(err, ErrCASConflict) ||
		errors.Is(err, ErrServerError) || errors.Is(err, ErrClientError)
}

// failure records a failure the node owes (blame.go); hard failures open
// the breaker at once.
func (b *breaker) failure(hard bool) {
	if b.state.Load() == int32(StateOpen) {
		return
	}
	b.node.stats.breakerFailures.Add(1)
	if n := b.fails.Add(1); hard || int(n) >= b.cfg.FailureThreshold {
		b.trip()
	}
}

// dialFailure is failure for a dial the node is to blame for; it also
// paces the dials of requests sent through the open breaker.
func (b *breaker) dialFailure(hard bool) {
	b.dialFailedAt.Store(time.Now().UnixNano())
	b.failure(hard)
}

func (b *breaker) trip() {
	b.mu.Lock()
	if b.stopped || b.state.Load() == int32(StateOpen) {
		b.mu.Unlock()
		return
	}
	b.state.Store(int32(StateOpen))
	b.first = b.firstDelay(time.Now())
	b.period = make(chan struct{})
	first, period := b.first, b.period
	b.probing.Add(1)
	b.mu.Unlock()

	b.node.log.Warn("nodeclient: circuit opened", "addr", b.node.addr, "failures", b.fails.Load())
	b.node.closeConns(ErrCircuitOpen)
	if f := b.cfg.OnStateChange; f != nil {
		f(b.node.addr, StateClosed, StateOpen)
	}
	go b.probeLoop(first, period)
}

// firstDelay is the delay before the first probe of a new open period: the
// initial one, or double the last period's when the breaker closed less than
// ProbeMax ago. Called with mu held.
func (b *breaker) firstDelay(now time.Time) time.Duration {
	if b.lastDelay == 0 || b.closedAt.IsZero() || now.Sub(b.closedAt) >= b.cfg.ProbeMax {
		return b.cfg.ProbeInitial
	}
	return min(2*b.lastDelay, b.cfg.ProbeMax)
}

// probeLoop probes the node with backoff until it answers, then closes the
// breaker; it stops early when the node is closed or an answer to a request
// sent through the breaker ended the open period.
func (b *breaker) probeLoop(delay time.Duration, period <-chan struct{}) {
	defer b.probing.Done()
	t := time.NewTimer(jitter(delay))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-period:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ProbeTimeout)
		err := b.node.probe(ctx)
		cancel()
		if err == nil {
			b.closeAfterAnswer(period, delay)
			return
		}
		b.node.log.Debug("nodeclient: probe failed", "addr", b.node.addr, "err", err, "next", delay)
		delay = min(2*delay, b.cfg.ProbeMax)
		t.Reset(jitter(delay))
	}
}

// closeAfterAnswer closes the open breaker after the node answered, a probe
// of the open period period sent after delay, or (nil, 0) a request sent
// through the breaker (which keeps the period's first delay for flap
// damping), and ends the open period. A probe of an earlier period closes
// nothing.
func (b *breaker) closeAfterAnswer(period <-chan struct{}, delay time.Duration) {
	b.mu.Lock()
	if b.stopped || b.state.Load() != int32(StateOpen) || period != nil && period != b.period {
		b.mu.Unlock()
		return
	}
	if delay == 0 {
		delay = b.first
	}
	b.fails.Store(0)
	if f := b.cfg.BeforeClose; f != nil {
		f(b.node.addr)
	}
	b.state.Store(int32(StateClosed))
	b.closedAt, b.lastDelay = time.Now(), delay
	close(b.period)
	b.mu.Unlock()
	b.node.log.Info("nodeclient: circuit closed", "addr", b.node.addr)
	if f := b.cfg.OnStateChange; f != nil {
		f(b.node.addr, StateOpen, StateClosed)
	}
}

// close stops the prober and waits for it.
func (b *breaker) close() {
	b.mu.Lock()
	if !b.stopped {
		b.stopped = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.probing.Wait()
}

// jitter adds up to 20 % to d so that many clients do not probe in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}
