package nodeclient

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestGatePacing: while online traffic is active, a finished batch request
// pauses the gate for d*(1-Share)/Share; a caller waiting through the pause
// leaves at once when its context ends, is let in by the gate's timer when
// the pause ends, and online traffic stopping lifts the pause and the
// in-flight limit.
func TestGatePacing(t *testing.T) {
	var online onlineActivity
	var yields atomic.Uint64
	g := newGate(8, YieldConfig{InFlight: 1, Window: time.Nanosecond, Share: 0.5}, &online, &yields)
	g.maxPause = time.Hour
	ctx := testCtx(t)
	online.begin() // an online request in flight

	start, err := g.acquire(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.release(start - int64(time.Minute)) // it "took" a minute: a minute's pause
	wctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() {
		_, err := g.acquire(wctx, nil)
		res <- err
	}()
	eventually(t, "a caller waiting through the pause", func() bool { return g.waiting() == 1 })
	if in, y := g.taken(), yields.Load(); in != 0 || y != 1 {
		t.Fatalf("during the pause: %d in flight, %d yields; want 0 and 1", in, y)
	}
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter: %v, want context.Canceled", err)
	}

	// Online traffic stops: the pause and the limit no longer apply.
	online.end()
	for i := 0; i < 8; i++ {
		if _, err := g.acquire(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if w := g.waiting(); w != 0 {
		t.Fatalf("%d waiting with online idle and 8 slots", w)
	}
	for i := 0; i < 8; i++ {
		g.release(time.Now().UnixNano())
	}

	// Online again, a short pause: the timer lets the waiter in.
	online.begin()
	g.mu.Lock()
	g.paused = time.Now().Add(20 * time.Millisecond).UnixNano()
	g.mu.Unlock()
	if _, err := g.acquire(ctx, nil); err != nil {
		t.Fatalf("acquire after a short pause: %v", err)
	}
	if in := g.taken(); in != 1 {
		t.Fatalf("%d in flight, want 1", in)
	}
}
