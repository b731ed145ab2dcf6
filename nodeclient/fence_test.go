package nodeclient

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// countingFence counts Hold and Release calls.
type countingFence struct{ held, released atomic.Int32 }

func (f *countingFence) Hold()    { f.held.Add(1) }
func (f *countingFence) Release() { f.released.Add(1) }

// A request whose caller's context ends while it waits for the reply stays
// in flight on its connection: its Fence is held when the call returns and
// released only once the reply has been read (after the frozen node
// thaws), so a caller can order a later request after it. A request that
// outlives the pool timeout resets its connection: its Fence is released
// before the call returns.
func TestFenceReleasedWhenAbandonedRequestFinishes(t *testing.T) {
	proc := startMemcached(t)
	ctx := testCtx(t)
	n := newTestNode(t, proc.Addr, Config{Online: PoolConfig{Conns: 1, Timeout: 20 * time.Second}, DialTimeout: 5 * time.Second})
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := proc.Freeze(); err != nil {
		t.Fatal(err)
	}
	var f countingFence
	cctx, cancel := context.WithTimeout(WithFence(ctx, &f), 100*time.Millisecond)
	err := n.Online().Set(cctx, Item{Key: "k", Value: []byte("w")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Set on a frozen node: %v, want a deadline error", err)
	}
	if f.held.Load() != 1 || f.released.Load() != 0 {
		t.Fatalf("after the abandon: held %d released %d, want 1 and 0", f.held.Load(), f.released.Load())
	}
	if err := proc.Thaw(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fence released once the late reply is read", func() bool { return f.released.Load() == 1 })

	// Outliving the pool timeout: the connection is reset at once.
	short := newTestNode(t, proc.Addr, Config{Online: PoolConfig{Conns: 1, Timeout: 200 * time.Millisecond}, DialTimeout: 5 * time.Second})
	if err := short.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := proc.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proc.Thaw() }()
	var g countingFence
	if err := short.Online().Set(WithFence(ctx, &g), Item{Key: "k", Value: []byte("w")}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Set past the pool timeout: %v, want ErrTimeout", err)
	}
	if g.held.Load() != 1 || g.released.Load() != 1 {
		t.Fatalf("after the timeout: held %d released %d, want 1 and 1", g.held.Load(), g.released.Load())
	}
}

// A request given up by its caller on a connection that is kept (the node
// was not blamed: it had answered within the pool timeout) must not hold
// its Fence for ever when the node then stays silent: the connection is
// checked every pool timeout while requests wait on it, and once stalled it
// is reset, the Fence released and the breaker opened.
func TestFenceReleasedWhenKeptConnectionStalls(t *testing.T) {
	proc := startMemcached(t)
	ctx := testCtx(t)
	n := newTestNode(t, proc.Addr, Config{Online: PoolConfig{Conns: 1, Timeout: 300 * time.Millisecond}, DialTimeout: 5 * time.Second})
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := proc.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proc.Thaw() }()
	var f countingFence
	cctx, cancel := context.WithTimeout(WithFence(ctx, &f), 50*time.Millisecond)
	err := n.Online().Set(cctx, Item{Key: "k", Value: []byte("w")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Set on a frozen node: %v, want a deadline error", err)
	}
	if f.held.Load() != 1 {
		t.Fatalf("after the abandon: held %d, want 1", f.held.Load())
	}
	eventually(t, "the stalled connection reset and the fence released", func() bool { return f.released.Load() == 1 })
	if s := n.State(); s != StateOpen {
		t.Fatalf("breaker %v after the connection stalled, want open", s)
	}
}
