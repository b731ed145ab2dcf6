package nodeclient

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBreakerFirstDelayDampsFlapping(t *testing.T) {
	n := NewNode("127.0.0.1:1", Config{Logger: quietLogger, Breaker: BreakerConfig{ProbeInitial: 100 * time.Millisecond, ProbeMax: 10 * time.Second}})
	defer n.Close()
	b := n.breaker
	now := time.Unix(1000, 0)
	if d := b.firstDelay(now); d != 100*time.Millisecond {
		t.Fatalf("first open: %v, want the initial delay", d)
	}
	// Closed 1 s ago after a 400 ms probe period: it flapped, back off.
	b.closedAt, b.lastDelay = now.Add(-time.Second), 400*time.Millisecond
	if d := b.firstDelay(now); d != 800*time.Millisecond {
		t.Fatalf("re-open soon after closing: %v, want 800ms", d)
	}
	b.lastDelay = 8 * time.Second
	if d := b.firstDelay(now); d != 10*time.Second {
		t.Fatalf("capped at ProbeMax: %v", d)
	}
	// Closed longer than ProbeMax ago: a fresh outage starts over.
	b.closedAt = now.Add(-11 * time.Second)
	if d := b.firstDelay(now); d != 100*time.Millisecond {
		t.Fatalf("fresh outage: %v, want the initial delay", d)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Online.Conns != DefaultOnlineConns || c.Online.MaxInFlight != DefaultOnlineMaxInFlight || c.Online.Timeout != DefaultOnlineTimeout ||
		c.Batch.Conns != DefaultBatchConns || c.Batch.MaxInFlight != DefaultBatchMaxInFlight || c.Batch.Timeout != DefaultBatchTimeout ||
		c.Online.RateLimit != 0 || c.Batch.RateLimit != 0 || c.DialTimeout != DefaultDialTimeout || c.MaxValueSize != DefaultMaxValueSize ||
		c.Breaker.FailureThreshold != 3 || c.Breaker.ProbeInitial != DefaultProbeInitial || c.Breaker.ProbeMax != DefaultProbeMax ||
		c.Breaker.ProbeTimeout != DefaultDialTimeout || c.Logger == nil {
		t.Fatalf("defaults: %+v", c)
	}
	c = Config{Batch: PoolConfig{RateLimit: 250}}.withDefaults()
	if c.Batch.RateBurst != 250 {
		t.Fatalf("default burst for 250/s: %d", c.Batch.RateBurst)
	}
}

// At most maxThrough requests at a time pass an open breaker, and only
// those under ThroughOpenBreaker.
func TestBreakerBoundsRequestsSentThrough(t *testing.T) {
	n := NewNode("127.0.0.1:1", Config{Logger: quietLogger})
	defer n.Close()
	b := n.breaker
	b.state.Store(int32(StateOpen))
	ctx := ThroughOpenBreaker(context.Background())
	if through, err := b.allow(context.Background()); through || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("a plain request through an open breaker: %v %v", through, err)
	}
	for i := 0; i < maxThrough; i++ {
		if through, err := b.allow(ctx); !through || err != nil {
			t.Fatalf("request %d sent through: %v %v", i, through, err)
		}
	}
	if through, err := b.allow(ctx); through || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("request %d sent through: %v %v, want ErrCircuitOpen", maxThrough+1, through, err)
	}
	b.sentWhileOpen(false, ErrTimeout) // one finished, unanswered: still open
	if through, err := b.allow(ctx); !through || err != nil || n.State() != StateOpen {
		t.Fatalf("after one finished: %v %v, state %v", through, err, n.State())
	}
}
