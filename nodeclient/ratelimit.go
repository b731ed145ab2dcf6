package nodeclient

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a pool's rate limit: a token bucket (golang.org/x/time/rate)
// from which a request takes one token per key, waiting for them within its
// context and the pool deadline, and giving them back if it gives up.
type limiter struct {
	lim    *rate.Limiter
	burst  int
	latest atomic.Int64 // unix nanos of the latest reservation, for refund
}

func newLimiter(r float64, burst int) *limiter {
	return &limiter{lim: rate.NewLimiter(rate.Limit(r), burst), burst: burst}
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
// wait for them. rate.Limiter refuses a reservation larger than the bucket,
// so n is taken in bucket-sized parts and the wait is that of the last.
func (l *limiter) reserve(now time.Time, n int) time.Duration {
	var wait time.Duration
	for n > 0 {
		k := min(n, l.burst)
		wait = max(wait, l.lim.ReserveN(now, k).DelayFrom(now))
		n -= k
	}
	l.latest.Store(now.UnixNano())
	return wait
}

// refund gives back n tokens of a reservation that was not used: a
// reservation of -n tokens at the time of the latest one puts them back
// whole (Reservation.CancelAt would keep those that later reservations
// were counted against).
func (l *limiter) refund(n int) {
	l.lim.ReserveN(time.Unix(0, l.latest.Load()), -n)
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
