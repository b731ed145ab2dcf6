package nodeclient

import (
	"context"
	"crypto/tls"
	"net"
)

// Fence is told when a request its caller stopped waiting for is really
// finished (answered, or its connection reset), so that the caller can
// order later requests after it (the smart client's per-key write order).
type Fence interface {
	// Hold is called, before the request's method returns, when the caller
	// gives up on a request that may still be in flight.
	Hold()
	// Release is called once for every Hold, when the held request is
	// finished. It may run on another goroutine and must not block.
	Release()
}

// FenceKey is the context key under which a request looks for its Fence.
// WithFence sets it; a caller with a context type of its own (the smart
// client's write ordering) answers it in Value and saves an allocation.
type FenceKey struct{}

// WithFence returns a context under which requests report to f.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, FenceKey{}, f)
}

// holdFence returns the Fence of ctx, held, or nil when ctx has none.
func holdFence(ctx context.Context) Fence {
	f, _ := ctx.Value(FenceKey{}).(Fence)
	if f != nil {
		f.Hold()
	}
	return f
}

// closeConn closes nc. With reset it aborts the TCP connection (SO_LINGER
// 0: the kernel sends RST and drops whatever is still queued) instead of
// closing it gracefully: a connection given up with requests in flight
// must not deliver them later, after a partition heals, when newer writes
// of the same keys may already have been applied.
func closeConn(nc net.Conn, reset bool) error {
	if reset {
		raw := nc
		if tc, ok := nc.(*tls.Conn); ok {
			raw = tc.NetConn()
		}
		if tc, ok := raw.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	return nc.Close()
}
