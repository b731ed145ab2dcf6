package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/replication"
)

// FaultConfig injects failures for testing in production, as Netflix's FIT
// does: chosen zones or nodes fail or slow down for a share of requests, so
// that a team can prove its fallbacks. Faults are applied before the
// request reaches the node client, so they never trip a circuit breaker.
type FaultConfig struct {
	// Rules are checked in order; every matching rule that fires applies
	// (delays add up; the first error wins).
	Rules []FaultRule
	// Seed makes the choice of requests deterministic (a fixed sequence of
	// random numbers); 0 picks a random seed.
	Seed uint64
}

// FaultRule makes matching requests fail or slow down.
type FaultRule struct {
	// Zone and Node (a node ID) select where the rule applies; empty
	// matches any.
	Zone, Node string
	// Ops lists operations (get, gat, lease, get_multi, set, add, replace,
	// append, prepend, cas, delete, touch, incr, decr, repair,
	// read_repair); empty matches all.
	Ops []string
	// Share is the fraction of matching requests affected, in [0, 1].
	Share float64
	// Delay, if > 0, holds the request this long (or until its context
	// ends) before it is sent; a delay of at least the pool's timeout
	// fails the request with ErrTimeout once the timeout has passed.
	Delay time.Duration
	// Err, if not nil, fails the request with an error wrapping it and
	// ErrInjected; a rule with neither Delay nor Err fails with ErrInjected.
	Err error
}

type faults struct {
	rules []FaultRule
	mu    sync.Mutex
	rnd   *rand.Rand
}

func newFaults(cfg FaultConfig) *faults {
	if len(cfg.Rules) == 0 {
		return nil
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &faults{rules: append([]FaultRule(nil), cfg.Rules...), rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetFaults replaces the fault-injection configuration of the client and
// its Batch view at run time; a FaultConfig without rules turns it off.
func (c *Client) SetFaults(cfg FaultConfig) {
	c.c.faults.Store(newFaults(cfg))
}

// apply injects the faults of the rules that fire for a request of op to
// n, in a pool whose requests time out after timeout.
func (f *faults) apply(ctx context.Context, op string, n replication.Node, timeout time.Duration) error {
	if f == nil {
		return nil
	}
	var delay time.Duration
	var err error
	for i := range f.rules {
		r := &f.rules[i]
		if !f.fires(r, op, n) {
			continue
		}
		delay += r.Delay
		if err == nil && (r.Err != nil || r.Delay <= 0) {
			if r.Err != nil {
				err = fmt.Errorf("%w: node %s: %w", ErrInjected, n.ID, r.Err)
			} else {
				err = fmt.Errorf("%w: node %s", ErrInjected, n.ID)
			}
		}
	}
	if delay <= 0 {
		return err
	}
	timedOut := delay >= timeout
	if timedOut {
		delay = timeout
	}
	if err := backoff.Sleep(ctx, delay); err != nil {
		return err
	}
	if timedOut {
		return fmt.Errorf("%w: node %s: %w after %v", ErrInjected, n.ID, ErrTimeout, timeout)
	}
	return err
}

// fires reports whether rule r applies to a request of op to n and its
// share of such requests draws this one.
func (f *faults) fires(r *FaultRule, op string, n replication.Node) bool {
	if (r.Zone != "" && r.Zone != n.Zone) || (r.Node != "" && r.Node != n.ID) || !matchOp(r.Ops, op) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rnd.Float64() < r.Share
}

func matchOp(ops []string, op string) bool {
	if len(ops) == 0 {
		return true
	}
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}
