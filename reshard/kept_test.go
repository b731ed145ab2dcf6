package reshard

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/reshardtest"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// flushAll empties a node, as a restart, a flush or a fence's
// invalidation would.
func flushAll(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte("flush_all\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := nc.Read(buf); err != nil || string(buf[:n]) != "OK\r\n" {
		t.Fatalf("flush_all: %q %v", buf[:n], err)
	}
}

// heldOn counts the keys of keys that top places on addr and addr holds.
func heldOn(t *testing.T, top replication.Topology, keys []string, addr string) (owned, held int) {
	t.Helper()
	reshardtest.ForOwners(t, top, keys, func(nc *nodeclient.Node, k string) {
		if nc.Addr() != addr {
			return
		}
		owned++
		if _, err := nc.Online().Get(context.Background(), k); err == nil {
			held++
		} else if !errors.Is(err, nodeclient.ErrCacheMiss) {
			t.Fatal(err)
		}
	})
	return owned, held
}

// TestReshardCopiesAgainWhenADestinationLostItsItems empties the node a
// grow adds right after the copy (a restart, a flush_all, a fence's
// invalidation would): before reads move to it, the reshard reads back a
// sample of its copies, says they are lost and copies again, so the node
// takes its reads holding every key it owns rather than cold. A second
// loss stops it.
func TestReshardCopiesAgainWhenADestinationLostItsItems(t *testing.T) {
	ctx := context.Background()
	cur, spare := memcachedFleet(t, "a-3")
	keys := reshardtest.Keys("c", 400)
	reshardtest.SetOwners(t, cur, keys)
	var s says
	cfg := RunConfig{
		Fleet:   &StaticFleet{Current: cur, Write: func(context.Context, Step, replication.Topology) error { return nil }},
		Change:  Change{Add: []replication.Node{spare["a-3"]}},
		ViewLag: -1,
		Say:     s.say,
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for r.Done() < StepCopy {
		if err := r.Next(ctx); err != nil {
			t.Fatalf("after %v: %v", r.Done(), err)
		}
	}
	_, _, tgt := r.Topologies()
	a3 := spare["a-3"].Addr
	if owned, held := heldOn(t, tgt, keys, a3); owned == 0 || held != owned {
		t.Fatalf("after the copy a-3 holds %d of the %d keys it takes over", held, owned)
	}
	flushAll(t, a3)
	if err := r.Next(ctx); err != nil || r.Done() != StepSwitch {
		t.Fatalf("switch: %v, done %v", err, r.Done())
	}
	if !s.has("[a-3] lost the items copied to them") {
		t.Fatalf("said %q", s.got)
	}
	if owned, held := heldOn(t, tgt, keys, a3); held != owned {
		t.Fatalf("a-3 takes reads holding %d of the %d keys it owns", held, owned)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	reshardtest.CheckHeldExactly(t, tgt, "a", keys)

	// Lost twice: the reshard stops before reads move.
	r, err = New(RunConfig{Fleet: &StaticFleet{Current: tgt, Write: cfg.Fleet.(*StaticFleet).Write},
		Change: Change{Remove: []string{"a-3"}}, ViewLag: -1, Say: s.say})
	if err != nil {
		t.Fatal(err)
	}
	for r.Done() < StepCopy {
		if err := r.Next(ctx); err != nil {
			t.Fatalf("shrink, after %v: %v", r.Done(), err)
		}
	}
	r.recopied = true
	for _, n := range tgt.Nodes {
		if n.Zone == "a" && n.ID != "a-3" {
			flushAll(t, n.Addr)
		}
	}
	if err := r.Next(ctx); !errors.Is(err, ErrIncomplete) || r.Done() != StepCopy {
		t.Fatalf("a second loss: %v, done %v", err, r.Done())
	}
}
