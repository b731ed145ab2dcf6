package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// orderPairs is how many pairs of each kind TestOwnWritesReachReplicasInOrder
// writes per policy: 200 pairs × 3 kinds × 3 replicas = 1,800 replica
// checks.
const orderPairs = 200

// A client's writes of one key reach every replica in the order they were
// issued, whatever the write policy, against memcached and zonecached:
// 200 pairs each of Set→Set, Set→Delete and Set(TTL 3 s)→Touch(1 h), each
// call returning before the next. Once every replica request has finished,
// no replica may still hold the earlier write of a pair (the first value,
// the deleted value, or the 3 s TTL): 0 of 1,800 replica checks per policy.
// Before the client ordered its writes, the background replica writes of a
// call could be overtaken by the next call on another pipelined connection.
func TestOwnWritesReachReplicasInOrder(t *testing.T) {
	for _, server := range []string{"memcached", "zonecached"} {
		t.Run(server, func(t *testing.T) {
			f := startFleet(t, server, []string{"a", "b", "c"}, 1)
			for _, p := range []replication.WritePolicy{replication.None, replication.One, replication.Quorum, replication.AllMinusOne, replication.All} {
				t.Run(p.String(), func(t *testing.T) { checkWriteOrder(t, f, server+"-"+p.String(), p) })
			}
		})
	}
}

func checkWriteOrder(t *testing.T, f *fleet, prefix string, policy replication.WritePolicy) {
	var attempts atomic.Int64 // replica requests finished
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.WritePolicy = policy
		cfg.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			if e.Err != nil && !outcome(e.Err) {
				t.Errorf("%s on %s: %v", e.Op, e.Node, e.Err)
			}
			attempts.Add(1)
		}
	})
	ctx := testCtx(t)
	key := func(kind string, i int) string { return fmt.Sprintf("%s-%s-%d", prefix, kind, i) }
	for i := range orderPairs {
		must := func(_ WriteResult, err error) {
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatalf("pair %d: %v", i, err)
			}
		}
		must(c.Set(ctx, Item{Key: key("set", i), Value: []byte("old")}))
		must(c.Set(ctx, Item{Key: key("set", i), Value: []byte("new")}))
		must(c.Set(ctx, Item{Key: key("del", i), Value: []byte("old")}))
		must(c.Delete(ctx, key("del", i)))
		must(c.Set(ctx, Item{Key: key("touch", i), Value: []byte("v"), TTL: 3 * time.Second}))
		must(c.Touch(ctx, key("touch", i), time.Hour))
	}
	// Every call sent one request to each of the 3 replicas: wait until
	// all of them have finished (answered), then look behind the client.
	want := int64(orderPairs * 6 * 3)
	eventually(t, "every replica request finished", func() bool { return attempts.Load() >= want })
	eventually(t, "every write-order chain finished", func() bool { return c.c.order.pending() == 0 })
	stale, checks := 0, 0
	var examples []string
	for _, n := range f.topo.Nodes {
		p := direct(t, n.Addr)
		for i := range orderPairs {
			for _, kind := range []string{"set", "del", "touch"} {
				checks++
				k := key(kind, i)
				it, err := p.Get(ctx, k)
				if err != nil && !errors.Is(err, nodeclient.ErrCacheMiss) {
					t.Fatalf("read %s on %s: %v", k, n.ID, err)
				}
				hit := err == nil && !isTombstone(it.Flags) // a tombstone: deleted
				var old bool
				switch kind {
				case "set":
					old = hit && string(it.Value) == "old"
				case "del":
					old = hit
				case "touch":
					// The touch gave it an hour; the earlier Set's 3 s
					// TTL (or its expiry) means the Set landed last.
					old = !hit || (it.TTL >= 0 && it.TTL <= 3)
				}
				if old {
					stale++
					if len(examples) < 5 {
						examples = append(examples, fmt.Sprintf("%s on %s (hit %v, value %q, ttl %d)", k, n.ID, hit, it.Value, it.TTL))
					}
				}
			}
		}
	}
	if checks != orderPairs*9 {
		t.Fatalf("%d checks, want %d", checks, orderPairs*9)
	}
	if stale > 0 {
		t.Errorf("%d of %d replica checks still hold the earlier write, e.g. %s", stale, checks, strings.Join(examples, "; "))
	}
}

// A write that has to wait for an earlier write of its key to a node that
// does not answer waits at most the pool's timeout, then fails like a
// timeout without being sent, and gets its repair queued. The earlier
// write here is one whose caller gave up (its context ended) while it was
// in flight to a frozen node: the transport holds its place in the order
// until its reply is read after the node thaws, and the repair (a delete)
// then lands after it, so the node ends up without the key rather than
// with the abandoned value.
func TestWriteBehindFrozenRequestTimesOutAndIsRepaired(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.WritePolicy = replication.All
		cfg.Node.Online.Timeout = time.Second
		cfg.Node.Online.Conns = 1 // v1 goes on the connection v0 opened
	})
	ctx := testCtx(t)
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("v0")}); err != nil {
		t.Fatal(err)
	}
	if err := f.proc("a0").Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			_ = f.proc("a0").Thaw()
		}
	}()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := c.Set(short, Item{Key: "k", Value: []byte("v1")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Set with a frozen local replica and a 100 ms context: %v", err)
	}
	// v2 waits behind v1, which holds its place until its connection is
	// done with it. Either v2's wait ends first (ErrTimeout, unsent) or the
	// transport finds the connection stalled a pool timeout after v1 was
	// written, resets it and opens the breaker; v2 is then sent through
	// the open breaker (a write is not skipped for it), and its new
	// connection to the frozen node fails its handshake (ErrUnreachable,
	// unsent), or it is refused at once (ErrCircuitOpen, unsent). Never is
	// v2 sent to a0 before v1 is done there.
	res, err := c.Set(ctx, Item{Key: "k", Value: []byte("v2")})
	if !errors.Is(err, replication.ErrPolicyNotMet) || len(res.Failed) != 1 || res.Failed[0].Node.ID != "a0" ||
		!(errors.Is(res.Failed[0].Err, ErrTimeout) || errors.Is(res.Failed[0].Err, ErrCircuitOpen) || errors.Is(res.Failed[0].Err, ErrUnreachable)) {
		t.Fatalf("Set behind the abandoned write: %+v %v; want a0 failed unsent (ErrTimeout, ErrCircuitOpen or ErrUnreachable)", res, err)
	}
	if err := f.proc("a0").Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	eventually(t, "the order chains finished", func() bool { return c.c.order.pending() == 0 })
	eventually(t, "the repair of a0 done", func() bool { return c.PendingRepairs() == 0 })
	p := direct(t, f.proc("a0").Addr)
	if it, err := p.Get(ctx, "k"); !gone(it, err) {
		t.Fatalf("a0 after the repair: %q %v, want a miss", it.Value, err)
	}
	for _, id := range []string{"b0", "c0"} {
		if it, err := direct(t, f.proc(id).Addr).Get(ctx, "k"); err != nil || string(it.Value) != "v2" {
			t.Fatalf("%s: %q %v, want v2", id, it.Value, err)
		}
	}
}
