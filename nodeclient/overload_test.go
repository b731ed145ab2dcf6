package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// overloadTimeout is the online timeout of the overload tests, the default:
// the client's queues below outlast it, and a live node on a loaded
// machine is never silent for that long.
const overloadTimeout = 500 * time.Millisecond

// outcomes counts what the callers of a load saw.
type outcomes struct {
	ok, timeouts, queueTimeouts, open, other atomic.Int64
	firstOther                               atomic.Value
}

func (o *outcomes) String() string {
	return fmt.Sprintf("ok %d, timeouts %d (in the client queue %d), circuit open %d, other %d (first: %v)",
		o.ok.Load(), o.timeouts.Load(), o.queueTimeouts.Load(), o.open.Load(), o.other.Load(), o.firstOther.Load())
}

func (o *outcomes) record(err error) {
	switch {
	case err == nil, errors.Is(err, ErrCacheMiss):
		o.ok.Add(1)
	case errors.Is(err, ErrCircuitOpen):
		o.open.Add(1)
	case errors.Is(err, ErrTimeout):
		o.timeouts.Add(1)
		if errors.Is(err, ErrQueueTimeout) {
			o.queueTimeouts.Add(1)
		}
	default:
		o.other.Add(1)
		o.firstOther.CompareAndSwap(nil, err.Error())
	}
}

// saturate runs callers goroutines doing online Gets and Sets on n until
// stop returns true, and returns what they saw.
func saturate(ctx context.Context, n *Node, callers int, stop func(*outcomes) bool) *outcomes {
	return load(ctx, n, callers, 0, stop)
}

// load is saturate with callers that pause up to jitter (at random) after
// each request, so that they do not run in lock-step.
func load(ctx context.Context, n *Node, callers int, jitter time.Duration, stop func(*outcomes) bool) *outcomes {
	o := &outcomes{}
	var done atomic.Bool
	var wg sync.WaitGroup
	value := make([]byte, 512)
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; !done.Load() && ctx.Err() == nil; i++ {
				key := fmt.Sprintf("sat-%d", (g*131+i)%500)
				var err error
				if i%4 == 0 {
					err = n.Online().Set(ctx, Item{Key: key, Value: value})
				} else {
					_, err = n.Online().Get(ctx, key)
				}
				o.record(err)
				if jitter > 0 {
					time.Sleep(rand.N(jitter))
				}
			}
		}(g)
	}
	for !stop(o) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	done.Store(true)
	wg.Wait()
	return o
}

// The client is saturated and the node is live: many requests time out in
// the client, none may count against the node. Two queues: the online
// rate limiter (the node then idles, so any breaker failure is the
// client's queue taken for the node's fault), and the in-flight slots of a
// node 50 ms away (a fault proxy in a process of its own), which its
// replies hold.

func TestOverloadRateLimitedMemcached(t *testing.T) {
	testOverload(t, startMemcached(t).Addr, PoolConfig{RateLimit: 100, RateBurst: 1})
}

func TestOverloadRateLimitedZonecached(t *testing.T) {
	testOverload(t, startZonecached(t).Addr, PoolConfig{RateLimit: 100, RateBurst: 1})
}

func TestOverloadInFlightMemcached(t *testing.T) {
	testOverload(t, startProxyProc(t, startMemcached(t).Addr, 50*time.Millisecond).addr, PoolConfig{})
}

func TestOverloadInFlightZonecached(t *testing.T) {
	testOverload(t, startProxyProc(t, startZonecached(t).Addr, 50*time.Millisecond).addr, PoolConfig{})
}

// testOverload runs 20 callers per in-flight slot against the node at addr
// through an online pool of 4 slots, the given rate limit and a 500 ms
// timeout, until hundreds of requests have timed out in the client, and
// checks that the breaker never left closed and nothing counted against
// the node.
func testOverload(t *testing.T, addr string, pc PoolConfig) {
	const maxInFlight = 4
	pc.Conns, pc.MaxInFlight, pc.Timeout = 2, maxInFlight, overloadTimeout
	tr := &transitions{}
	n := newTestNode(t, addr, Config{
		Online:  pc,
		Breaker: BreakerConfig{ProbeInitial: 20 * time.Millisecond, ProbeMax: 100 * time.Millisecond, OnStateChange: tr.record},
	})
	ctx := testCtx(t)
	if err := n.Online().Noop(ctx); err != nil {
		t.Fatal(err)
	}
	o := saturate(ctx, n, 20*maxInFlight, func(o *outcomes) bool {
		return o.queueTimeouts.Load() >= 200 && o.ok.Load() >= 200
	})
	st := n.Stats()
	t.Logf("%s; stats %+v", o, st)
	if got := tr.String(); got != "[]" {
		t.Fatalf("the breaker of a live node changed state under client overload: %s (%s; %+v)", got, o, st)
	}
	if o.open.Load() != 0 || o.other.Load() != 0 || st.BreakerFailures != 0 {
		t.Fatalf("errors other than timeouts, or failures counted against the node: %s; %+v", o, st)
	}
	if st.QueueTimeouts != uint64(o.queueTimeouts.Load()) {
		t.Fatalf("Stats.QueueTimeouts %d, callers saw %d", st.QueueTimeouts, o.queueTimeouts.Load())
	}
	if _, err := n.Online().Get(ctx, "sat-1"); err != nil && !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get after the load: %v", err)
	}
}
