package nodeclient

import (
	"context"
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
}

func newBreaker(n *Node, cfg BreakerConfig) *breaker {
	return &breaker{node: n, cfg: cfg, stop: make(chan struct{})}
}

func (b *breaker) State() State { return State(b.state.Load()) }

// allow reports ErrCircuitOpen while the breaker is open.
func (b *breaker) allow() error {
	if b.state.Load() == int32(StateOpen) {
		b.node.stats.fastFails.Add(1)
		return ErrCircuitOpen
	}
	return nil
}

// success records an answer from the node.
func (b *breaker) success() {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
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

func (b *breaker) trip() {
	b.mu.Lock()
	if b.stopped || b.state.Load() == int32(StateOpen) {
		b.mu.Unlock()
		return
	}
	b.state.Store(int32(StateOpen))
	first := b.firstDelay(time.Now())
	b.probing.Add(1)
	b.mu.Unlock()

	b.node.log.Warn("nodeclient: circuit opened", "addr", b.node.addr, "failures", b.fails.Load())
	b.node.closeConns(ErrCircuitOpen)
	if f := b.cfg.OnStateChange; f != nil {
		f(b.node.addr, StateClosed, StateOpen)
	}
	go b.probeLoop(first)
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

// probeLoop probes the node with backoff until it answers or the node is
// closed, then closes the breaker.
func (b *breaker) probeLoop(delay time.Duration) {
	defer b.probing.Done()
	t := time.NewTimer(jitter(delay))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ProbeTimeout)
		err := b.node.probe(ctx)
		cancel()
		if err == nil {
			b.mu.Lock()
			if b.stopped {
				b.mu.Unlock()
				return
			}
			b.fails.Store(0)
			if f := b.cfg.BeforeClose; f != nil {
				f(b.node.addr)
			}
			b.state.Store(int32(StateClosed))
			b.closedAt, b.lastDelay = time.Now(), delay
			b.mu.Unlock()
			b.node.log.Info("nodeclient: circuit closed", "addr", b.node.addr)
			if f := b.cfg.OnStateChange; f != nil {
				f(b.node.addr, StateOpen, StateClosed)
			}
			return
		}
		b.node.log.Debug("nodeclient: probe failed", "addr", b.node.addr, "err", err, "next", delay)
		delay = min(2*delay, b.cfg.ProbeMax)
		t.Reset(jitter(delay))
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
