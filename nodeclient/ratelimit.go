package nodeclient

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket in GCRA form: tat is the theoretical arrival
// time of the next request; a request may go when tat - tolerance ≤ now.
type limiter struct {
	mu        sync.Mutex
	interval  time.Duration // time per token
	tolerance time.Duration // (burst-1) * interval
	tat       time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	iv := time.Duration(float64(time.Second) / rate)
	if iv <= 0 {
		iv = 1
	}
	return &limiter{interval: iv, tolerance: time.Duration(burst-1) * iv}
}

// rateChunk is the most keys one GetMulti request of a pool limited to
// rate requests per second with bucket burst and the given timeout may
// carry (see PoolConfig.RateLimit): no more than the bucket holds, so that
// a chunk on a full bucket goes at once, and no more than accrue in half
// the timeout, so that on an empty one its tokens come well within it.
func rateChunk(rate float64, burst int, timeout time.Duration) int {
	return max(1, min(burst, int(rate*timeout.Seconds()/2)))
}

// reserve takes n tokens at time now and returns how long the caller must
// wait for them.
func (l *limiter) reserve(now time.Time, n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := l.tat
	if start.Before(now) {
		start = now
	}
	l.tat = start.Add(time.Duration(n) * l.interval)
	wait := start.Add(time.Duration(n-1) * l.interval).Add(-l.tolerance).Sub(now)
	return max(wait, 0)
}

// refund gives back n tokens of a reservation that was not used.
func (l *limiter) refund(n int) {
	l.mu.Lock()
	l.tat = l.tat.Add(-time.Duration(n) * l.interval)
	l.mu.Unlock()
}

// wait blocks until n tokens are available or ctx ends.
func (l *limiter) wait(ctx context.Context, n int, deadline <-chan time.Time) error {
	d := l.reserve(time.Now(), n)
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.refund(n)
		return ctx.Err()
	case <-deadline:
		l.refund(n)
		return ErrTimeout
	}
}
