package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// An overloaded client is not a dead fleet: 80 callers reading through
// online pools of 4 slots limited to 20 requests a second per node, so
// that most requests time out waiting in the client. Those reads fall back
// to the other zones (the caller still gets a value), but no breaker
// opens on the live nodes, so no read skips zone a because of a breaker,
// and no failure is counted against any node.
func TestClientOverloadOpensNoBreaker(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	keys := loadKeys(t, newTestClient(t, f.topo, "a", func(c *Config) { c.WritePolicy = replication.All }), "ovl", 100)
	reg := prometheus.NewRegistry()
	var transitions, circuitOpen, queueTimeoutsA atomic.Int64
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.Registerer = reg
		c.Node.Online = nodeclient.PoolConfig{Conns: 2, MaxInFlight: 4, Timeout: 500 * time.Millisecond, RateLimit: 20, RateBurst: 1}
		c.Node.Breaker.OnStateChange = func(string, nodeclient.State, nodeclient.State) { transitions.Add(1) }
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			if errors.Is(e.Err, nodeclient.ErrCircuitOpen) {
				circuitOpen.Add(1)
			}
			if e.Zone == "a" && errors.Is(e.Err, nodeclient.ErrQueueTimeout) {
				queueTimeoutsA.Add(1)
			}
		}
	})

	var gets, errs atomic.Int64
	var firstErr atomic.Value
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 80; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; !stop.Load(); i++ {
				key := keys[i%len(keys)]
				it, err := c.Get(context.Background(), key)
				if err == nil && string(it.Value) != key {
					err = fmt.Errorf("wrong value %q", it.Value)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				gets.Add(1)
			}
		}(g)
	}
	metric := func(name string, labels map[string]string) float64 { return testproc.CounterSum(t, reg, name, labels) }
	testproc.Eventually(t, 60*time.Second, "reads to time out in the client queue", func() bool {
		return metric("zonecache_client_queue_timeouts_total", map[string]string{"node": "a0"}) >= 200 &&
			metric("zonecache_client_requests_total", map[string]string{"zone": "a", "result": "hit"}) >= 100
	})
	stop.Store(true)
	wg.Wait()

	fallbacks := metric("zonecache_client_requests_total", map[string]string{"result": "fallback_hit"})
	t.Logf("%d gets, %d errors (first: %v), %v fallback hits, %d zone-a queue timeouts seen by attempts, metrics: queue timeouts a0 %v b0 %v c0 %v",
		gets.Load(), errs.Load(), firstErr.Load(), fallbacks, queueTimeoutsA.Load(),
		metric("zonecache_client_queue_timeouts_total", map[string]string{"node": "a0"}),
		metric("zonecache_client_queue_timeouts_total", map[string]string{"node": "b0"}),
		metric("zonecache_client_queue_timeouts_total", map[string]string{"node": "c0"}))
	if n := transitions.Load(); n != 0 {
		t.Errorf("%d breaker transitions on live nodes", n)
	}
	if n := circuitOpen.Load(); n != 0 {
		t.Errorf("%d attempts refused by an open breaker: reads left zone a because of a breaker", n)
	}
	if n := metric("zonecache_client_breaker_failures_total", nil); n != 0 {
		t.Errorf("%v failures counted against live nodes", n)
	}
	if queueTimeoutsA.Load() == 0 {
		t.Error("no attempt in zone a failed with ErrQueueTimeout")
	}
	for _, id := range []string{"a0", "b0", "c0"} {
		if c.c.view.Load().byID[id].tn.State() != nodeclient.StateClosed {
			t.Errorf("breaker of %s open", id)
		}
	}
}
