// Package backoff holds the module's waits: a context-aware Sleep, and waits
// drawn with equal jitter with a doubling backoff made of them, so that many
// processes that failed at the same moment (a seed restarted, a partition
// healed) do not retry in step.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter returns d with equal jitter: a wait drawn uniformly from
// [d/2, d]. Half of d is kept, so a retry never comes sooner than half the
// step, and the other half is spread, so the wait never exceeds d and
// every bound stated for d still holds.
func Jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return d - half + time.Duration(rand.Int64N(int64(half)+1))
}

// Exp is a backoff that starts at Min and doubles up to Max; every wait it
// returns carries equal jitter (see Jitter). The zero step is Min.
type Exp struct {
	Min, Max time.Duration
	step     time.Duration
}

// Next returns the next wait, drawn from [step/2, step], and doubles the
// step (at most Max).
func (e *Exp) Next() time.Duration {
	if e.step < e.Min {
		e.step = e.Min
	}
	d := Jitter(e.step)
	e.step = min(2*e.step, max(e.Max, e.Min))
	return d
}

// Reset starts the backoff again from Min.
func (e *Exp) Reset() { e.step = 0 }

// Sleep waits d, or until ctx ends, and returns ctx's error in that case.
// Unlike time.After, its timer is stopped when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
