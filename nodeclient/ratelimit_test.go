package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimiterReservations(t *testing.T) {
	now := time.Unix(1000, 0)
	ms := time.Millisecond
	l := newLimiter(10, 3) // one token per 100 ms, bucket of 3
	for i := 0; i < 3; i++ {
		if d := l.reserve(now, 1); d != 0 {
			t.Fatalf("reservation %d within the burst waits %v", i, d)
		}
	}
	// The bucket is empty: each further token comes 100 ms after the last.
	if d := l.reserve(now, 1); d != 100*ms {
		t.Fatalf("4th token waits %v, want 100ms", d)
	}
	if d := l.reserve(now, 1); d != 200*ms {
		t.Fatalf("5th token waits %v, want 200ms", d)
	}
	l.refund(1)
	if d := l.reserve(now, 1); d != 200*ms {
		t.Fatalf("after a refund the next token waits %v, want 200ms", d)
	}
	// Time refills the bucket, up to its size only.
	later := now.Add(10 * time.Second)
	for i := 0; i < 3; i++ {
		if d := l.reserve(later, 1); d != 0 {
			t.Fatalf("refilled token %d waits %v", i, d)
		}
	}
	if d := l.reserve(later, 1); d != 100*ms {
		t.Fatalf("token past the refilled burst waits %v, want 100ms", d)
	}
	// Many tokens at once wait for the last of them.
	l2 := newLimiter(10, 1)
	if d := l2.reserve(now, 5); d != 400*ms {
		t.Fatalf("5 tokens at once wait %v, want 400ms", d)
	}
}

func TestLimiterWaitHonoursContext(t *testing.T) {
	l := newLimiter(0.001, 1)
	if err := l.wait(context.Background(), 1, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx, 1, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
	fired := make(chan time.Time, 1)
	fired <- time.Now()
	if err := l.wait(context.Background(), 1, fired); !errors.Is(err, ErrTimeout) {
		t.Fatalf("wait past the pool deadline: %v", err)
	}
}

func TestRateChunk(t *testing.T) {
	for _, tc := range []struct {
		rate    float64
		burst   int
		timeout time.Duration
		want    int
	}{
		{50, 5, 2 * time.Second, 5},        // the bucket bounds it
		{100, 10000, 5 * time.Second, 250}, // half the timeout's tokens bound it
		{0.5, 1, time.Second, 1},           // at least one key
	} {
		if got := rateChunk(tc.rate, tc.burst, tc.timeout); got != tc.want {
			t.Errorf("rateChunk(%v, %d, %v) = %d, want %d", tc.rate, tc.burst, tc.timeout, got, tc.want)
		}
	}
}

// TestBatchRateLimit: against a real node, a batch GetMulti needing more
// tokens than burst + rate×timeout completes (in chunks of burst keys)
// instead of timing out; under a batch load the keys and requests the batch
// pool completed never exceed burst + rate×elapsed; and online requests on
// the same node are not held to that rate.
func TestBatchRateLimit(t *testing.T) {
	const (
		rate    = 50
		burst   = 5
		keys    = 120 // > burst + rate×timeout = 105
		timeout = 2 * time.Second
	)
	mc := startMemcached(t)
	n := newTestNode(t, mc.Addr, Config{
		Online: relaxed,
		Batch:  PoolConfig{RateLimit: rate, RateBurst: burst, Timeout: timeout},
		Yield:  YieldConfig{Disabled: true}, // the limiter alone paces batch
	})
	ctx := testCtx(t)
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = fmt.Sprintf("rate-%d", i)
		if err := n.Online().Set(ctx, Item{Key: ks[i], Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now() // before the batch pool's first request: its bucket is full
	var tokens atomic.Int64
	checkBound := func() {
		t.Helper()
		done := tokens.Load()
		if bound := burst + rate*time.Since(start).Seconds(); float64(done) > bound {
			t.Fatalf("the batch pool completed %d keys and requests in %v, more than burst + rate×elapsed = %.1f",
				done, time.Since(start), bound)
		}
	}
	multi := func(ctx context.Context) error {
		got, err := n.Batch().GetMulti(ctx, ks)
		if err != nil {
			return err
		}
		if len(got) != keys {
			return fmt.Errorf("GetMulti: %d hits, want %d", len(got), keys)
		}
		tokens.Add(keys)
		return nil
	}

	sent := n.Stats().Sent
	if err := multi(ctx); err != nil {
		t.Fatalf("a GetMulti of %d keys: %v", keys, err)
	}
	if d := n.Stats().Sent - sent; d != keys/burst {
		t.Fatalf("a GetMulti of %d keys sent %d requests, want %d of %d keys", keys, d, keys/burst, burst)
	}
	checkBound()

	var onlineGets atomic.Int64
	onlineStart := time.Now()
	online := loop(ctx, 1, func(ctx context.Context, _, _ int) error {
		_, err := n.Online().Get(ctx, ks[0])
		if err == nil {
			onlineGets.Add(1)
		}
		return err
	})
	defer online()
	var multis atomic.Int64
	batch := loop(ctx, 2, func(ctx context.Context, g, i int) error {
		if g == 0 {
			err := n.Batch().Set(ctx, Item{Key: ks[i%keys], Value: []byte("w")})
			if err == nil {
				tokens.Add(1)
			}
			return err
		}
		err := multi(ctx)
		if err == nil {
			multis.Add(1)
		}
		return err
	})
	defer batch()
	for multis.Load() < 1 {
		checkBound()
		if err := ctx.Err(); err != nil {
			t.Fatalf("no GetMulti completed under load: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // polling, not synchronisation
	}
	checkBound()
	onlineElapsed := time.Since(onlineStart)
	if err := batch(); err != nil {
		t.Fatalf("batch load: %v", err)
	}
	if err := online(); err != nil {
		t.Fatalf("online load: %v", err)
	}
	if got, limit := float64(onlineGets.Load()), burst+rate*onlineElapsed.Seconds(); got <= limit {
		t.Fatalf("online completed %v gets in %v, within the batch pool's limit %.1f", got, onlineElapsed, limit)
	}
	t.Logf("batch: %d keys and requests in %v; online: %d gets in %v", tokens.Load(), time.Since(start), onlineGets.Load(), onlineElapsed)
}
