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

// pipelineSuite: 64 goroutines share two connections; every
// reply must reach its own caller.
func TestPipelineMemcached(t *testing.T)  { pipelineSuite(t, startMemcached(t).Addr) }
func TestPipelineZonecached(t *testing.T) { pipelineSuite(t, startZonecached(t).Addr) }

func pipelineSuite(t *testing.T, addr string) {
	n := newTestNode(t, addr, Config{Online: relaxed})
	ctx := testCtx(t)
	p := n.Online()
	const workers, rounds = 64, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				key := fmt.Sprintf("w%d:r%d", w, r)
				val := fmt.Sprintf("value-of-%d-%d-%s", w, r, key)
				if err := p.Set(ctx, Item{Key: key, Value: []byte(val), Flags: uint32(w*1000 + r)}); err != nil {
					errs <- err
					return
				}
				it, err := p.Get(ctx, key)
				if err != nil {
					errs <- err
					return
				}
				if string(it.Value) != val || it.Flags != uint32(w*1000+r) || it.Key != key {
					errs <- fmt.Errorf("worker %d round %d got %q flags %d", w, r, it.Value, it.Flags)
					return
				}
				if r%20 == 19 {
					m, err := p.GetMulti(ctx, []string{key, "absent:" + key, fmt.Sprintf("w%d:r0", w)})
					if err != nil || len(m) != 2 || string(m[key].Value) != val {
						errs <- fmt.Errorf("worker %d multi: %v %v", w, m, err)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := n.Stats()
	if st.Dials != 2 {
		t.Errorf("dialled %d connections, want the pool's 2", st.Dials)
	}
	if st.Writes >= st.Sent {
		t.Logf("no write batching observed: %d writes for %d requests", st.Writes, st.Sent)
	}
}

// TestCancelMidFlight: a request whose context ends while its reply is held
// back returns at once with the context's error; the late reply is
// discarded and the same connection serves the next request.
func TestCancelMidFlight(t *testing.T) {
	mc := startMemcached(t)
	px := startProxy(t, mc.Addr)
	n := newTestNode(t, px.addr(), Config{Online: PoolConfig{Conns: 1, Timeout: time.Minute}})
	ctx := testCtx(t)
	p := n.Online()
	if err := p.Set(ctx, Item{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}

	px.hold()
	cctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() {
		_, err := p.Get(cctx, "k")
		res <- err
	}()
	eventually(t, "the request to be sent", func() bool { return n.Stats().Sent >= 2 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Get: %v, want context.Canceled", err)
	}

	// A deadline behaves the same way.
	dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer dcancel()
	if _, err := p.Get(dctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get past deadline: %v, want DeadlineExceeded", err)
	}

	px.release()
	it, err := p.Get(ctx, "k")
	if err != nil || string(it.Value) != "v1" {
		t.Fatalf("Get after release: %+v %v", it, err)
	}
	if err := p.Set(ctx, Item{Key: "k2", Value: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	if it, err := p.Get(ctx, "k2"); err != nil || string(it.Value) != "v2" {
		t.Fatalf("Get k2: %+v %v", it, err)
	}
	if d := n.Stats().Dials; d != 1 {
		t.Fatalf("dialled %d times: the connection was replaced, want it kept", d)
	}
	if n.State() != StateClosed {
		t.Fatal("breaker opened on cancellations")
	}
}

// TestStalledConnectionReplaced: a request that outlives the pool timeout
// closes its connection, fails the requests behind it, and the next request
// runs on a new connection.
func TestStalledConnectionReplaced(t *testing.T) {
	mc := startMemcached(t)
	px := startProxy(t, mc.Addr)
	n := newTestNode(t, px.addr(), Config{
		Online:  PoolConfig{Conns: 1, Timeout: time.Second},
		Batch:   relaxed,
		Breaker: BreakerConfig{ProbeInitial: 10 * time.Millisecond},
	})
	ctx := testCtx(t)
	p := n.Online()
	if err := p.Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	px.hold()
	const behind = 5
	var wg sync.WaitGroup
	var timeouts, closed atomic.Int32
	for i := 0; i < behind; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Get(ctx, "k")
			switch {
			case errors.Is(err, ErrTimeout):
				timeouts.Add(1)
			case errors.Is(err, ErrConnClosed):
				closed.Add(1)
			default:
				t.Errorf("stalled Get: %v", err)
			}
		}()
	}
	wg.Wait()
	if timeouts.Load() < 1 || timeouts.Load()+closed.Load() != behind {
		t.Fatalf("timeouts %d, closed %d", timeouts.Load(), closed.Load())
	}
	px.release()
	eventually(t, "the breaker to close", func() bool { return n.State() == StateClosed })
	it, err := p.Get(ctx, "k")
	if err != nil || string(it.Value) != "v" {
		t.Fatalf("Get after stall: %+v %v", it, err)
	}
	if _, err := n.Batch().Get(ctx, "k"); err != nil {
		t.Fatalf("batch Get after stall: %v", err)
	}
	if n.Stats().Dials < 2 {
		t.Fatal("the stalled connection was not replaced")
	}
}

// TestInFlightLimit: with MaxInFlight requests pending, the next caller
// waits without sending anything and gives up with its context.
func TestInFlightLimit(t *testing.T) {
	mc := startMemcached(t)
	px := startProxy(t, mc.Addr)
	n := newTestNode(t, px.addr(), Config{Online: PoolConfig{Conns: 1, MaxInFlight: 2, Timeout: time.Minute}})
	ctx := testCtx(t)
	p := n.Online()
	if err := p.Noop(ctx); err != nil {
		t.Fatal(err)
	}
	px.hold()
	res := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := p.Get(ctx, "k"); res <- err }()
	}
	eventually(t, "two requests in flight", func() bool { return n.Stats().Sent == 3 })
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := p.Get(wctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Get: %v", err)
	}
	if s := n.Stats().Sent; s != 3 {
		t.Fatalf("the third request was sent (Sent=%d)", s)
	}
	px.release()
	for i := 0; i < 2; i++ {
		if err := <-res; !errors.Is(err, ErrCacheMiss) {
			t.Fatalf("held Get: %v", err)
		}
	}
}

// TestBatchDoesNotBlockOnline: a batch pool saturated by its rate limit
// and in-flight limit does not delay the online pool.
func TestBatchDoesNotBlockOnline(t *testing.T) {
	mc := startMemcached(t)
	n := newTestNode(t, mc.Addr, Config{Online: relaxed, Batch: PoolConfig{RateLimit: 0.5, RateBurst: 1, MaxInFlight: 2, Timeout: time.Minute}})
	ctx := testCtx(t)
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	const batchN = 10
	var batchDone atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < batchN; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := n.Batch().Set(bctx, Item{Key: fmt.Sprintf("b%d", i), Value: []byte("x")}); err == nil {
				batchDone.Add(1)
			}
		}(i)
	}
	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("o%d", i)
		if err := n.Online().Set(ctx, Item{Key: key, Value: []byte("y")}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Online().Get(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	// 400 online requests finished while the batch pool (one request per 2 s)
	// still had most of its 10 queued.
	if d := batchDone.Load(); d >= batchN {
		t.Fatalf("all %d batch requests finished before the online ones", d)
	}
	bcancel()
	wg.Wait()
}

// TestCloseStopsGoroutines: Close ends every goroutine the node started
// (readers, writers, prober) and later calls fail with ErrClosed.
func TestCloseStopsGoroutines(t *testing.T) {
	mc := startMemcached(t)
	base := runtime.NumGoroutine()
	n := NewNode(mc.Addr, Config{Logger: quietLogger, Online: relaxed, Batch: relaxed})
	ctx := testCtx(t)
	for i := 0; i < 10; i++ {
		if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Batch().Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if runtime.NumGoroutine() <= base {
		t.Fatal("no connection goroutines started")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= base })
	if _, err := n.Online().Get(ctx, "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}

// TestCancelWaitersAndMulti: callers queued behind the reading caller, and
// a multi-get, also return at once when cancelled; the replies that arrive
// later are discarded and the connection keeps serving.
func TestCancelWaitersAndMulti(t *testing.T) {
	mc := startMemcached(t)
	px := startProxy(t, mc.Addr)
	n := newTestNode(t, px.addr(), Config{Online: PoolConfig{Conns: 1, Timeout: time.Minute}})
	ctx := testCtx(t)
	p := n.Online()
	for i := 0; i < 3; i++ {
		if err := p.Set(ctx, Item{Key: fmt.Sprintf("k%d", i), Value: []byte(fmt.Sprintf("v%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	px.hold()
	const callers = 6
	cancels := make([]context.CancelFunc, callers)
	res := make(chan error, callers)
	for i := 0; i < callers; i++ {
		cctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		sent := n.Stats().Sent
		go func(i int) {
			if i%2 == 0 {
				_, err := p.GetMulti(cctx, []string{"k0", "k1", "k2", "nokey"})
				res <- err
				return
			}
			_, err := p.Get(cctx, fmt.Sprintf("k%d", i%3))
			res <- err
		}(i)
		eventually(t, "the request to be sent", func() bool { return n.Stats().Sent > sent })
	}
	// Cancel the waiters first and the reading caller (the first) last.
	for i := callers - 1; i >= 0; i-- {
		cancels[i]()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled request %d: %v", i, err)
		}
	}
	px.release()
	for i := 0; i < 20; i++ {
		m, err := p.GetMulti(ctx, []string{"k0", "k1", "k2", "nokey"})
		if err != nil || len(m) != 3 || string(m["k2"].Value) != "v2" {
			t.Fatalf("GetMulti after release: %v %v", m, err)
		}
		it, err := p.Get(ctx, "k1")
		if err != nil || string(it.Value) != "v1" {
			t.Fatalf("Get after release: %+v %v", it, err)
		}
	}
	if d := n.Stats().Dials; d != 1 {
		t.Fatalf("dialled %d times, want the one connection kept", d)
	}
}

// TestCancelStormOnSilentConnection: callers that all give up quickly must
// not let requests pile up forever on a connection that answers nothing;
// once its oldest request is older than the pool timeout, the next
// abandonment closes it and opens the breaker.
func TestCancelStormOnSilentConnection(t *testing.T) {
	mc := startMemcached(t)
	px := startProxy(t, mc.Addr)
	const timeout = time.Second
	n := newTestNode(t, px.addr(), Config{
		Online:  PoolConfig{Conns: 1, Timeout: timeout},
		Breaker: BreakerConfig{ProbeInitial: time.Hour},
	})
	ctx := testCtx(t)
	if err := n.Online().Noop(ctx); err != nil {
		t.Fatal(err)
	}
	px.hold()
	start := time.Now()
	cancelSentGet(t, n, px)
	if n.State() != StateClosed {
		t.Fatal("one cancellation opened the breaker")
	}
	// The abandoned request stays on the kept connection; once it has
	// waited a pool timeout with nothing received, the connection's watch
	// (watchKept) resets it and opens the breaker, with no other request
	// needed.
	eventually(t, "a silent connection with a stale abandoned request to open the breaker", func() bool { return n.State() == StateOpen })
	if d := time.Since(start); d < timeout {
		t.Fatalf("breaker opened %v after the hold, before the pool timeout (%v)", d, timeout)
	}
	px.release()
}
