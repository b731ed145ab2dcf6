package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFlightRunsOnceForManyCallers(t *testing.T) {
	var g flightGroup[int]
	var calls atomic.Int32
	release := make(chan struct{})
	const callers = 1000
	var started, wg sync.WaitGroup
	started.Add(callers)
	results := make([]int, callers)
	errs := make([]error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			started.Done()
			results[i], _, errs[i] = g.do(context.Background(), "k", func(context.Context) (int, error) {
				calls.Add(1)
				<-release
				return 42, nil
			})
		}(i)
	}
	started.Wait()
	// Every caller has at least been scheduled; wait until the call exists,
	// then let it finish. Callers arriving after it finishes start a new call,
	// so poll until all callers have joined before releasing.
	deadline := time.Now().Add(10 * time.Second)
	for g.waitersFor("k") < callers {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers joined", g.waitersFor("k"), callers)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("fn ran %d times, want 1", n)
	}
	for i := range results {
		if results[i] != 42 || errs[i] != nil {
			t.Fatalf("caller %d got %d, %v", i, results[i], errs[i])
		}
	}
	if g.inFlight() != 0 {
		t.Fatal("flight not released")
	}
}

func TestFlightWaiterCancellationLeavesOthers(t *testing.T) {
	var g flightGroup[string]
	release := make(chan struct{})
	var fnCtxErr atomic.Value
	fn := func(ctx context.Context) (string, error) {
		<-release
		if ctx.Err() != nil {
			fnCtxErr.Store(ctx.Err())
		}
		return "v", nil
	}
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, _, err := g.do(leaderCtx, "k", fn)
		leaderDone <- err
	}()
	waitFor(t, func() bool { return g.waitersFor("k") == 1 })
	otherDone := make(chan string, 1)
	go func() {
		v, shared, err := g.do(context.Background(), "k", fn)
		if err != nil || !shared {
			v = "bad"
		}
		otherDone <- v
	}()
	waitFor(t, func() bool { return g.waitersFor("k") == 2 })
	cancelLeader()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled leader got %v", err)
	}
	close(release)
	if v := <-otherDone; v != "v" {
		t.Fatalf("other waiter got %q; the leader's cancellation must not fail it", v)
	}
	if e := fnCtxErr.Load(); e != nil {
		t.Fatalf("the call's context was cancelled (%v) while a waiter remained", e)
	}
}

func TestFlightAllWaitersGoneCancelsAndRestarts(t *testing.T) {
	var g flightGroup[int]
	ctx, cancel := context.WithCancel(context.Background())
	sawCancel := make(chan struct{})
	go func() {
		_, _, _ = g.do(ctx, "k", func(c context.Context) (int, error) {
			<-c.Done()
			close(sawCancel)
			return 0, c.Err()
		})
	}()
	waitFor(t, func() bool { return g.waitersFor("k") == 1 })
	cancel()
	select {
	case <-sawCancel:
	case <-time.After(10 * time.Second):
		t.Fatal("the call was not cancelled after its last waiter left")
	}
	v, shared, err := g.do(context.Background(), "k", func(context.Context) (int, error) { return 7, nil })
	if v != 7 || shared || err != nil {
		t.Fatalf("a later caller joined the abandoned call: %d %v %v", v, shared, err)
	}
}

func TestFlightPanicAndErrorReleaseKey(t *testing.T) {
	var g flightGroup[int]
	_, _, err := g.do(context.Background(), "k", func(context.Context) (int, error) { panic("boom") })
	if !errors.Is(err, ErrLoaderPanicked) {
		t.Fatalf("panic surfaced as %v", err)
	}
	boom := errors.New("origin down")
	_, _, err = g.do(context.Background(), "k", func(context.Context) (int, error) { return 0, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("error surfaced as %v", err)
	}
	v, _, err := g.do(context.Background(), "k", func(context.Context) (int, error) { return 1, nil })
	if v != 1 || err != nil {
		t.Fatalf("key wedged after panic and error: %d %v", v, err)
	}
}

func TestRequestScopeMemoPerOwner(t *testing.T) {
	ctx := WithRequestScope(context.Background())
	if WithRequestScope(ctx) != ctx {
		t.Fatal("nested WithRequestScope must reuse the outer scope")
	}
	s := scopeFrom(ctx)
	a, b := new(int), new(int)
	if _, _, ok := s.lookup(a, "k"); ok {
		t.Fatal("empty scope answered")
	}
	s.remember(a, "k", Item{Key: "k", Value: []byte("v")}, true)
	s.remember(b, "k", Item{}, false)
	if it, found, ok := s.lookup(a, "k"); !ok || !found || string(it.Value) != "v" {
		t.Fatalf("owner a: %v %v %v", it, found, ok)
	}
	if _, found, ok := s.lookup(b, "k"); !ok || found {
		t.Fatalf("owner b should have a remembered miss: found=%v ok=%v", found, ok)
	}
	s.forget(a, "k")
	if _, _, ok := s.lookup(a, "k"); ok {
		t.Fatal("forget did not drop the memo")
	}
	if scopeFrom(context.Background()) != nil {
		t.Fatal("a plain context has no scope")
	}
}

// waitersFor reports how many callers wait on key's call; for tests.
func (g *flightGroup[T]) waitersFor(key string) int {
	sh := g.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if f, ok := sh.flights[key]; ok {
		return f.waiters
	}
	return 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Inline mode: the starting caller runs the call itself; when its context
// ends while another caller waits, it leaves at once and the call restarts
// for the other, which gets the value.
func TestFlightInlineLeaderLeavesAndCallRestarts(t *testing.T) {
	g := flightGroup[string]{inline: true}
	var runs atomic.Int32
	started := make(chan struct{}, 2)
	fn := func(ctx context.Context) (string, error) {
		if runs.Add(1) == 1 {
			started <- struct{}{}
			<-ctx.Done() // the first run waits until it is interrupted
			return "", ctx.Err()
		}
		return "v", nil
	}
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, _, err := g.do(leaderCtx, "k", fn)
		leaderDone <- err
	}()
	<-started
	otherDone := make(chan string, 1)
	go func() {
		v, shared, err := g.do(context.Background(), "k", fn)
		if err != nil || !shared {
			v = fmt.Sprintf("bad: %v %v", shared, err)
		}
		otherDone <- v
	}()
	waitFor(t, func() bool { return g.waitersFor("k") == 2 })
	cancelLeader()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled leader got %v", err)
	}
	if v := <-otherDone; v != "v" {
		t.Fatalf("the waiter got %q; the call should have restarted for it", v)
	}
	if runs.Load() != 2 || g.inFlight() != 0 {
		t.Fatalf("runs %d, in flight %d", runs.Load(), g.inFlight())
	}
	// Alone, a cancelled inline caller cancels the call and leaves nothing.
	ctx, cancel := context.WithCancel(context.Background())
	runs.Store(0)
	go func() { <-started; cancel() }()
	if _, _, err := g.do(ctx, "k", fn); !errors.Is(err, context.Canceled) || g.inFlight() != 0 {
		t.Fatalf("lone cancelled caller: %v, in flight %d", err, g.inFlight())
	}
	// Results, errors and panics of an inline call.
	if v, shared, err := g.do(context.Background(), "x", func(context.Context) (string, error) { return "ok", nil }); v != "ok" || shared || err != nil {
		t.Fatalf("inline call: %q %v %v", v, shared, err)
	}
	if _, _, err := g.do(context.Background(), "x", func(context.Context) (string, error) { panic("boom") }); !errors.Is(err, ErrLoaderPanicked) {
		t.Fatalf("inline panic: %v", err)
	}
	if g.inFlight() != 0 {
		t.Fatal("an inline call was not released")
	}
}

// BenchmarkFlightGroupParallel: inline calls of distinct keys from every
// processor at once, the shape of many workers' Gets; it counts what the
// group's locks cost when nothing is shared.
func BenchmarkFlightGroupParallel(b *testing.B) {
	g := flightGroup[int]{inline: true}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 97
		ctx := context.Background()
		for pb.Next() {
			i++
			_, _, _ = g.do(ctx, keys[i%len(keys)], func(context.Context) (int, error) { return i, nil })
		}
	})
}
