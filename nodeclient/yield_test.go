package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loop runs op in workers goroutines until the returned stop is called;
// stop waits for them and returns the first error other than a context
// error.
func loop(ctx context.Context, workers int, op func(ctx context.Context, g, i int) error) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if err := op(ctx, g, i); err != nil && ctx.Err() == nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	return func() error {
		cancel()
		wg.Wait()
		return first
	}
}

// TestBatchYieldsToOnline: while online requests run on a node, its batch
// pool keeps at most Yield.InFlight requests in flight however many batch
// callers there are; when online traffic stops, the batch pool fills up
// to its MaxInFlight again. With yielding disabled the batch load fills
// the pool even while online requests run.
func TestBatchYieldsToOnline(t *testing.T) {
	addr := startZonecached(t).Addr
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("disabled=%v", disabled), func(t *testing.T) {
			n := newTestNode(t, addr, Config{
				Online: relaxed,
				Batch:  PoolConfig{Timeout: 20 * time.Second, MaxInFlight: 32},
				// A long window: a goroutine descheduled between two online
				// requests on a loaded machine must not open the gate.
				Yield: YieldConfig{Disabled: disabled, Window: time.Second},
			})
			ctx := testCtx(t)
			if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
			online := loop(ctx, 2, func(ctx context.Context, _, _ int) error {
				_, err := n.Online().Get(ctx, "k")
				return err
			})
			defer online()
			eventually(t, "online requests", func() bool { return n.Online().InFlight() > 0 })

			val := make([]byte, 4<<10)
			var batchDone atomic.Int64
			batch := loop(ctx, 16, func(ctx context.Context, g, i int) error {
				err := n.Batch().Set(ctx, Item{Key: fmt.Sprintf("bulk-%d-%d", g, i%50), Value: val})
				if err == nil {
					batchDone.Add(1)
				}
				return err
			})
			defer batch()
			p := n.Batch()
			if disabled {
				eventually(t, "batch requests to fill the pool beside online ones", func() bool { return p.InFlight() > 1 })
				if y := n.Stats().BatchYields; y != 0 {
					t.Fatalf("%d batch yields with yielding disabled", y)
				}
				return
			}

			// Sample the batch pool while online traffic runs, until the
			// batch load has completed many requests.
			samples, queued := 0, 0
			for batchDone.Load() < 500 || queued == 0 {
				if in := p.InFlight(); in > 1 {
					t.Fatalf("%d batch requests in flight while online traffic runs, want at most 1", in)
				}
				if p.Waiting() > 0 {
					queued++
				}
				samples++
				runtime.Gosched()
				if err := ctx.Err(); err != nil {
					t.Fatalf("batch load made no progress: %v (%d samples)", err, samples)
				}
			}
			if y := n.Stats().BatchYields; y == 0 {
				t.Fatal("no batch yields counted while batch callers queued behind online traffic")
			}
			t.Logf("%d samples, %d with batch callers waiting, %d yields", samples, queued, n.Stats().BatchYields)

			if err := online(); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the batch pool to fill up once online traffic stopped", func() bool { return p.InFlight() > 1 })
			if err := batch(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBatchGateWaiterHonoursContext: a batch caller waiting at the gate
// (one batch request in flight while an online one runs) returns at once
// with its context's error when the context ends, leaving the requests in
// flight alone; they complete when the node answers.
func TestBatchGateWaiterHonoursContext(t *testing.T) {
	px := startProxy(t, startZonecached(t).Addr)
	// No pacing (Share 1): a pause after the batch Noop below would make b1
	// wait at the gate too, and count a second yield.
	n := newTestNode(t, px.addr(), Config{
		Online: relaxed,
		Batch:  PoolConfig{Timeout: 20 * time.Second, MaxInFlight: 8},
		Yield:  YieldConfig{Share: 1},
	})
	ctx := testCtx(t)
	// Dial both pools before the proxy holds replies.
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := n.Batch().Noop(ctx); err != nil {
		t.Fatal(err)
	}

	px.hold()
	held := make(chan error, 2)
	go func() {
		_, err := n.Online().Get(ctx, "k")
		held <- err
	}()
	eventually(t, "the online request in flight", func() bool { return n.Online().InFlight() == 1 })
	go func() { held <- n.Batch().Set(ctx, Item{Key: "b1", Value: []byte("v")}) }()
	eventually(t, "one batch request in flight", func() bool { return n.Batch().InFlight() == 1 })

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waiter := make(chan error, 1)
	go func() { waiter <- n.Batch().Set(wctx, Item{Key: "b2", Value: []byte("v")}) }()
	eventually(t, "the second batch request at the gate", func() bool { return n.Batch().Waiting() == 1 })
	if y := n.Stats().BatchYields; y != 1 {
		t.Fatalf("BatchYields = %d, want 1", y)
	}
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting batch Set: %v, want context.Canceled", err)
	}
	if w, in := n.Batch().Waiting(), n.Batch().InFlight(); w != 0 || in != 1 {
		t.Fatalf("after the cancel: %d waiting, %d in flight; want 0 and 1", w, in)
	}
	select {
	case err := <-held:
		t.Fatalf("a held request returned before its reply was released: %v", err)
	default:
	}

	px.release()
	for range 2 {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Batch().Set(ctx, Item{Key: "b3", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if in := n.Batch().InFlight(); in != 0 {
		t.Fatalf("%d batch requests in flight after all returned", in)
	}
}

// TestBatchGetMultiChunked: while online traffic is active a batch
// GetMulti goes as requests of at most Yield.Chunk keys, and returns every
// hit; on a node with no online traffic it goes as one request.
func TestBatchGetMultiChunked(t *testing.T) {
	addr := startZonecached(t).Addr
	busy := newTestNode(t, addr, Config{Online: relaxed, Batch: relaxed, Yield: YieldConfig{Window: time.Hour, Chunk: 16}})
	idle := newTestNode(t, addr, Config{Online: relaxed, Batch: relaxed, Yield: YieldConfig{Chunk: 16}})
	ctx := testCtx(t)
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("chunk-%d", i)
		if err := busy.Online().Set(ctx, Item{Key: keys[i], Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		n    *Node
		sent uint64
	}{{busy, 7}, {idle, 1}} {
		before := tc.n.Stats().Sent
		got, err := tc.n.Batch().GetMulti(ctx, keys)
		if err != nil || len(got) != len(keys) {
			t.Fatalf("GetMulti: %d hits, %v; want %d", len(got), err, len(keys))
		}
		if sent := tc.n.Stats().Sent - before; sent != tc.sent {
			t.Fatalf("GetMulti of %d keys sent %d requests, want %d", len(keys), sent, tc.sent)
		}
	}
}
