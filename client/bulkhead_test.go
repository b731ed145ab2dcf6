package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A load beyond LoadConcurrency fails at once with ErrOriginBusy, and its
// loader is not called.
func TestLoadConcurrencyRefusesBeyondBudget(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	c := newTestClient(t, f.topo, "a", func(cfg *Config) { cfg.LoadConcurrency = 1 })
	ctx := testCtx(t)
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.GetOrLoad(ctx, "slow", time.Minute, func(context.Context) ([]byte, error) {
			close(started)
			<-release
			return []byte("s"), nil
		})
		done <- err
	}()
	<-started
	var called atomic.Bool
	_, err := c.GetOrLoad(ctx, "other", time.Minute, func(context.Context) ([]byte, error) {
		called.Store(true)
		return []byte("o"), nil
	})
	if !errors.Is(err, ErrOriginBusy) || called.Load() {
		t.Fatalf("second load: %v (loader called %v), want ErrOriginBusy and no call", err, called.Load())
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first load: %v", err)
	}
	if n := testutil.ToFloat64(c.c.metrics.loads.WithLabelValues("rejected_concurrency")); n != 1 {
		t.Fatalf("rejected_concurrency %v, want 1", n)
	}
	// The budget is back: the key loads now.
	if it, err := c.GetOrLoad(ctx, "other", time.Minute, func(context.Context) ([]byte, error) { return []byte("o"), nil }); err != nil || string(it.Value) != "o" {
		t.Fatalf("load after release: %q, %v", it.Value, err)
	}
}

// Loads beyond LoadRate fail with ErrOriginBusy.
func TestLoadRateRefusesBeyondBudget(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a"}, 1)
	c := newTestClient(t, f.topo, "a", func(cfg *Config) { cfg.LoadRate = 0.001 }) // one token, refilled in 1000 s
	ctx := testCtx(t)
	load := func(context.Context) ([]byte, error) { return []byte("v"), nil }
	if _, err := c.GetOrLoad(ctx, "k1", time.Minute, load); err != nil {
		t.Fatalf("first load: %v", err)
	}
	if _, err := c.GetOrLoad(ctx, "k2", time.Minute, load); !errors.Is(err, ErrOriginBusy) {
		t.Fatalf("second load: %v, want ErrOriginBusy", err)
	}
	if it, err := c.GetOrLoad(ctx, "k1", time.Minute, load); err != nil || string(it.Value) != "v" {
		t.Fatalf("cached key: %q, %v; want a hit without a load", it.Value, err)
	}
	if ok, rej := testutil.ToFloat64(c.c.metrics.loads.WithLabelValues("ok")), testutil.ToFloat64(c.c.metrics.loads.WithLabelValues("rejected_rate")); ok != 1 || rej != 1 {
		t.Fatalf("loads ok %v rejected_rate %v, want 1 and 1", ok, rej)
	}
}
