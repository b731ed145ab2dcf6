package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// loadKeys sets n keys under policy all and returns them.
func loadKeys(t *testing.T, c *Client, prefix string, n int) []string {
	t.Helper()
	ctx := testCtx(t)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", prefix, i)
		if _, err := c.Set(ctx, Item{Key: keys[i], Value: []byte(keys[i])}); err != nil {
			t.Fatalf("Set %s: %v", keys[i], err)
		}
	}
	return keys
}

// Killing every node of the local zone under a load of Gets and Sets
// (default write policy, all-minus-one) returns no error to any caller:
// the other zones answer the reads and meet the policy of the writes.
func TestKillLocalZoneUnderLoad(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 2)
	keys := loadKeys(t, newTestClient(t, f.topo, "a", func(c *Config) { c.WritePolicy = replication.All }), "kill", 200)
	c := newTestClient(t, f.topo, "a", nil)
	if c.c.cfg.WritePolicy != replication.AllMinusOne {
		t.Fatalf("default write policy %v, want all-minus-one", c.c.cfg.WritePolicy)
	}

	var gets, sets, getErrs, setErrs atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := keys[i%len(keys)]
				if i%4 == 0 {
					// The value stays the key, so the Gets can check it.
					if _, err := c.Set(context.Background(), Item{Key: key, Value: []byte(key)}); err != nil {
						setErrs.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Errorf("set %s: %w", key, err))
					}
					sets.Add(1)
					continue
				}
				it, err := c.Get(context.Background(), key)
				if err == nil && string(it.Value) != key {
					err = fmt.Errorf("wrong value %q", it.Value)
				}
				if err != nil {
					getErrs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("get %s: %w", key, err))
				}
				gets.Add(1)
			}
		}(g)
	}
	eventually(t, "load before the kill", func() bool { return gets.Load() > 500 && sets.Load() > 100 })
	f.proc("a0").Kill()
	f.proc("a1").Kill()
	getsAt, setsAt := gets.Load(), sets.Load()
	eventually(t, "load after the kill", func() bool { return gets.Load() > getsAt+3000 && sets.Load() > setsAt+500 })
	close(stop)
	wg.Wait()
	if ge, se := getErrs.Load(), setErrs.Load(); ge != 0 || se != 0 {
		t.Fatalf("%d of %d Gets and %d of %d Sets failed; first: %v", ge, gets.Load(), se, sets.Load(), firstErr.Load())
	}
	fallback := testutil.ToFloat64(c.c.metrics.requests.WithLabelValues("get", "b", resultFallbackHit))
	// Concurrent Gets of one key share a lookup, so count loosely.
	if fallback < 100 {
		t.Fatalf("zone b served %v fallback hits; the reads after the kill should have gone there", fallback)
	}
	if failed := testutil.ToFloat64(c.c.metrics.requests.WithLabelValues("set", "a", resultError)); failed == 0 {
		t.Fatal("no Set failed in zone a: the writes after the kill should have tried it")
	}
	t.Logf("%d Gets and %d Sets, 0 errors, %v fallback hits in zone b", gets.Load(), sets.Load(), fallback)
}

type timeoutCounter struct{ n atomic.Int32 }

type counterKey struct{}

// Freezing one node (SIGSTOP) costs each caller at most one timeout: the
// breaker opens and later reads of its keys fail fast to another zone.
func TestFrozenNodeOneTimeoutThenFastFallback(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 2)
	var total atomic.Int32
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.Hooks.OnAttempt = func(ctx context.Context, e AttemptEvent) {
			if e.Node == "a0" && (errors.Is(e.Err, nodeclient.ErrTimeout) || errors.Is(e.Err, nodeclient.ErrConnClosed)) {
				total.Add(1)
				if tc, ok := ctx.Value(counterKey{}).(*timeoutCounter); ok {
					tc.n.Add(1)
				}
			}
		}
	})
	const workers = 8
	keys := loadKeys(t, c, "frozen", 400)
	frozen := f.proc("a0")
	if err := frozen.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = frozen.Thaw() })

	counters := make([]*timeoutCounter, workers)
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		counters[g] = &timeoutCounter{}
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ctx := context.WithValue(context.Background(), counterKey{}, counters[g])
			// Each worker reads its own keys (no shared lookups), 3 rounds.
			for round := 0; round < 3; round++ {
				for i := g; i < len(keys); i += workers {
					it, err := c.Get(ctx, keys[i])
					if err == nil && string(it.Value) != keys[i] {
						err = fmt.Errorf("wrong value %q", it.Value)
					}
					if err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d Gets failed; first: %v", n, firstErr.Load())
	}
	for g, tc := range counters {
		if n := tc.n.Load(); n > 1 {
			t.Errorf("worker %d saw %d timeouts, want at most 1", g, n)
		}
	}
	if total.Load() == 0 {
		t.Fatal("no request timed out: the frozen node was never asked")
	}
	m := c.c.view.Load().byID["a0"]
	if m.tn.State() != nodeclient.StateOpen || m.tn.Stats().FastFails == 0 {
		t.Fatalf("breaker %v, fast fails %d: later reads should fail fast", m.tn.State(), m.tn.Stats().FastFails)
	}
	t.Logf("timeouts %d, fast fails %d", total.Load(), m.tn.Stats().FastFails)
}
