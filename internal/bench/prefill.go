package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// prefill writes every key once with cfg.Concurrency workers and returns
// what it did; error samples go to res.
func prefill(ctx context.Context, cfg Config, sh *shared, t Target, res *Result) PrefillResult {
	start := time.Now()
	var next, errs atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := int64(sh.w.Keys)
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGen(sh, 1<<40|uint64(w))
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				opCtx, cancel := ctx, context.CancelFunc(func() {})
				if cfg.OpTimeout > 0 {
					opCtx, cancel = context.WithTimeout(ctx, cfg.OpTimeout)
				}
				err := t.Set(opCtx, sh.keys.key(int(i)), g.value(), sh.w.TTL)
				cancel()
				if err != nil && ctx.Err() == nil {
					errs.Add(1)
					mu.Lock()
					res.addErrorSample(fmt.Sprintf("prefill set: %v", err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return PrefillResult{Keys: uint64(min(next.Load(), n)), Errors: uint64(errs.Load()), Elapsed: time.Since(start)}
}
