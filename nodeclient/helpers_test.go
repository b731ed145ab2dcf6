package nodeclient

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// quietLogger keeps breaker logs out of test output.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func startMemcached(t testing.TB) *testproc.Process {
	t.Helper()
	return testproc.StartMemcached(t, "-m", "64")
}

func newTestNode(t testing.TB, addr string, cfg Config) *Node {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger
	}
	n := NewNode(addr, cfg)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// relaxed is a pool config for tests that do not test timeouts: the default
// 500 ms is a production budget, too tight for -race on a loaded machine.
var relaxed = PoolConfig{Timeout: 20 * time.Second}
