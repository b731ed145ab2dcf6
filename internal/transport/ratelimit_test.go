package transport

import (
	"context"
	"errors"
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
