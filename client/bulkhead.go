package client

import (
	"context"
	"fmt"

	"golang.org/x/time/rate"
)

// DefaultLoadConcurrency is Config.LoadConcurrency's default.
const DefaultLoadConcurrency = 64

// bulkhead bounds one process's loader calls: at most a number at once and
// a number per second. A call beyond either fails at once: the origin is
// protected by refusing, not by queueing callers.
type bulkhead struct {
	slots   chan struct{} // nil: no concurrency limit
	limiter *rate.Limiter // nil: no rate limit
	m       *metrics
}

func newBulkhead(cfg Config, m *metrics) *bulkhead {
	b := &bulkhead{m: m}
	if cfg.LoadConcurrency > 0 {
		b.slots = make(chan struct{}, cfg.LoadConcurrency)
	}
	if cfg.LoadRate > 0 {
		b.limiter = rate.NewLimiter(rate.Limit(cfg.LoadRate), max(1, cfg.LoadBurst))
	}
	return b
}

// load runs fn (a loader, through safeLoad) if the budget allows it, else
// fails with ErrOriginBusy. Outcomes are counted in
// zonecache_client_loads_total.
func (b *bulkhead) load(ctx context.Context, fn Loader) ([]byte, error) {
	if b.slots != nil {
		select {
		case b.slots <- struct{}{}:
			defer func() { <-b.slots }()
		default:
			b.m.loads.WithLabelValues("rejected_concurrency").Inc()
			return nil, fmt.Errorf("%w: %d loads in flight", ErrOriginBusy, cap(b.slots))
		}
	}
	if b.limiter != nil && !b.limiter.Allow() {
		b.m.loads.WithLabelValues("rejected_rate").Inc()
		return nil, fmt.Errorf("%w: over %v loads/s", ErrOriginBusy, b.limiter.Limit())
	}
	val, err := safeLoad(ctx, fn)
	if err != nil {
		b.m.loads.WithLabelValues("error").Inc()
		return nil, err
	}
	b.m.loads.WithLabelValues("ok").Inc()
	return val, nil
}
