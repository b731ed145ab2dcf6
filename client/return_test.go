package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// returnFleet starts stock memcached in zones a and b (one node each) and
// returns it with the key's value v0 on both replicas, written by w.
func returnFleet(t *testing.T, w *Client, key string) {
	t.Helper()
	if _, err := w.Set(testCtx(t), Item{Key: key, Value: []byte("v0")}); err != nil {
		t.Fatalf("Set v0: %v", err)
	}
}

// slowWriter is a writer whose breaker probes a node that went away only
// every 1.5 s: another process's repairs of a returning node that run well
// after this test's reader has seen the node back.
func slowWriter(cfg *Config) {
	cfg.Node.Online.Timeout = time.Second
	cfg.Node.Batch.Timeout = time.Second
	cfg.Node.Breaker.ProbeInitial = 1500 * time.Millisecond
	cfg.Node.Breaker.ProbeMax = 1500 * time.Millisecond
	cfg.Node.Breaker.ProbeTimeout = 200 * time.Millisecond
	cfg.RepairRecheck = 300 * time.Millisecond
}

// TestReturningNodeQuarantinedForOtherReaders: two independent clients of
// zone a, a writer and a reader, on stock memcached (no server help). The
// zone a node is frozen; the reader notices (its breaker opens) and the
// writer's acknowledged write misses the node. After the thaw the
// reader's breaker closes long before the writer's does and its repair
// runs: the reader must never read the overwritten version meanwhile (the
// quarantine makes the node's answers misses, and the read falls back to
// zone b), and it must have taken the quarantine path.
func TestReturningNodeQuarantinedForOtherReaders(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b"}, 1)
	w := newTestClient(t, f.topo, "a", slowWriter)
	r := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.Node.Online.Timeout = time.Second
		cfg.Node.Breaker.ProbeInitial = 50 * time.Millisecond
		cfg.Node.Breaker.ProbeMax = 100 * time.Millisecond
		cfg.Node.Breaker.ProbeTimeout = 200 * time.Millisecond
	})
	const key = "ret-q"
	returnFleet(t, w, key)
	if it, err := r.Get(testCtx(t), key); err != nil || string(it.Value) != "v0" {
		t.Fatalf("reader before the freeze: %q, %v", it.Value, err)
	}
	a := f.proc("a0")
	if err := a.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			_ = a.Thaw()
		}
	}()
	// The reader's request times out on the silent connection: its
	// breaker opens and the read falls back to zone b.
	if it, err := r.Get(testCtx(t), key); err != nil || string(it.Value) != "v0" {
		t.Fatalf("reader during the freeze: %q, %v", it.Value, err)
	}
	if s := replicaOf(r, "a", key).tn.State(); s != nodeclient.StateOpen {
		t.Fatalf("reader's breaker of the frozen node: %v, want open", s)
	}
	if _, err := w.Set(testCtx(t), Item{Key: key, Value: []byte("v1")}); err != nil {
		t.Fatalf("Set v1 during the freeze: %v", err)
	}
	if w.PendingRepairs() == 0 {
		t.Fatal("the write that missed the frozen node left no repair")
	}
	if err := a.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	// Until the writer has repaired the node, the reader must not see v0.
	ctx := testCtx(t)
	reads := 0
	eventually(t, "the writer's repairs of the returned node ran", func() bool {
		it, err := r.Get(ctx, key)
		reads++
		if err == nil && string(it.Value) == "v0" {
			t.Fatalf("read %d after the thaw returned v0, overwritten by an acknowledged write", reads)
		}
		return w.PendingRepairs() == 0
	})
	if n := testutil.ToFloat64(r.c.metrics.quarantinedReads); n == 0 {
		t.Fatal("the reader never quarantined the returned node: the race was not exercised")
	}
	// After the quarantine the node serves again, repaired: a miss there
	// falls back to zone b's v1, and read repair copies it back.
	eventually(t, "the reader reads v1 from zone a again", func() bool {
		it, err := r.Get(ctx, key)
		if err == nil && string(it.Value) == "v0" {
			t.Fatal("v0 read after the writer's repairs")
		}
		return err == nil && string(it.Value) == "v1" && it.zone == "a"
	})
}

// TestRepairRecheckDeletesLateBufferedWrite: a write sent into a frozen
// node's socket, given up (the connection reset), is applied when the node
// resumes, and may be applied after the repair delete that came on a new
// connection. The test makes that order certain by applying the late
// write itself, behind the client's back, right after the repair's first
// success: the recheck must delete it, and the writer's own reads must not
// take the replica's copy until then.
func TestRepairRecheckDeletesLateBufferedWrite(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b"}, 1)
	spoolDir := t.TempDir()
	w := newTestClient(t, f.topo, "a", func(cfg *Config) {
		slowWriter(cfg)
		cfg.Node.Breaker.ProbeInitial = 100 * time.Millisecond
		cfg.Node.Breaker.ProbeMax = 200 * time.Millisecond
		cfg.RepairRecheck = 2 * time.Second
		cfg.RepairSpoolDir = spoolDir
		// One connection: v1 goes on v0's, not on a new one whose
		// handshake would time out before v1 is sent.
		cfg.Node.Online.Conns = 1
	})
	const key = "ret-r"
	returnFleet(t, w, key)
	a := f.proc("a0")
	if err := a.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			_ = a.Thaw()
		}
	}()
	// v1 goes into the frozen node's socket and times out there; v2 finds
	// the breaker open and is not sent.
	for _, v := range []string{"v1", "v2"} {
		if _, err := w.Set(testCtx(t), Item{Key: key, Value: []byte(v)}); err != nil {
			t.Fatalf("Set %s during the freeze: %v", v, err)
		}
	}
	node := replicaOf(w, "a", key)
	k, _ := w.c.mapKey(key)
	// The repair of v2 (never sent) inherits v1's recheck, in the spool too.
	w.c.spool.mu.Lock()
	e, ok := w.c.spool.live[repairKey{node.node.ID, k.node}]
	w.c.spool.mu.Unlock()
	if !ok || e.r.Kind&repairRecheck == 0 {
		t.Fatalf("spooled repair of the frozen replica: %+v (found %v), want the recheck bit", e.r, ok)
	}
	if err := a.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	succeeded := func() bool {
		return testutil.ToFloat64(w.c.metrics.repairs.WithLabelValues("recheck"))+testutil.ToFloat64(w.c.metrics.repairs.WithLabelValues("ok")) > 0
	}
	eventually(t, "the repair's first success", succeeded)
	// The late write lands after the repair.
	late := direct(t, node.node.Addr)
	if _, err := late.Store(testCtx(t), nodeclient.Item{Key: k.node, Value: k.wrap([]byte("v1"))}, nodeclient.StoreOptions{}); err != nil {
		t.Fatalf("late write: %v", err)
	}
	if it, err := w.Get(testCtx(t), key); err != nil || string(it.Value) != "v2" {
		t.Fatalf("writer's read before the recheck: %q, %v; want v2 (the replica gated)", it.Value, err)
	}
	eventually(t, "the recheck ran", func() bool { return w.PendingRepairs() == 0 })
	if it, err := late.Get(testCtx(t), k.node); !gone(it, err) {
		t.Fatalf("replica after the recheck: %q, %v; want a miss or a tombstone (the late write deleted)", it.Value, err)
	}
}

// TestRecheckBitSticksAndEnds checks the bookkeeping: a repair of a write
// given up in flight carries the recheck bit, a newer repair of the same
// replica inherits it, and a write that was never sent does not set it.
func TestRecheckBitSticksAndEnds(t *testing.T) {
	var s rechecks
	r := replication.Repair{NodeID: "a0", Key: "k", Kind: repairKindFor(replication.RepairInvalidate, nodeclient.ErrTimeout)}
	if r = s.stick(r); r.Kind&repairRecheck == 0 {
		t.Fatal("a timed-out write's repair has no recheck")
	}
	reset := fmt.Errorf("%w: %w", nodeclient.ErrConnClosed, nodeclient.ErrCircuitOpen)
	if repairKindFor(replication.RepairDelete, reset)&repairRecheck == 0 {
		t.Fatal("a write whose connection the opening breaker reset has no recheck")
	}
	fast := replication.Repair{NodeID: "a0", Key: "k", Kind: repairKindFor(replication.RepairDelete, nodeclient.ErrCircuitOpen)}
	if fast.Kind&repairRecheck != 0 {
		t.Fatal("a fast-failed write's repair has a recheck")
	}
	if fast = s.stick(fast); fast.Kind&repairRecheck == 0 || fast.Kind&^repairRecheck != replication.RepairDelete {
		t.Fatalf("the newer repair did not inherit the recheck: kind %#x", fast.Kind)
	}
	s.forget(fast)
	if other := s.stick(replication.Repair{NodeID: "a0", Key: "k"}); other.Kind&repairRecheck != 0 {
		t.Fatal("the recheck outlived its success")
	}
}

// TestRecheckSurvivesTheSpool: a repair's recheck bit is spooled with it,
// and a client that adopts the segment of an exited one gets it back.
func TestRecheckSurvivesTheSpool(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20)
	r := testRepair("a0", "k")
	r.Kind = replication.RepairDelete | repairRecheck
	if _, ok := s.add(r, spoolT0); !ok {
		t.Fatal("add refused")
	}
	_ = s.f.Close() // the owner exits
	got, o := adoptOrphans(dir, spoolT0, quietLogger)
	defer o.release(true)
	if len(got) != 1 || got[0].Kind != replication.RepairDelete|repairRecheck {
		t.Fatalf("adopted %+v, want the delete with its recheck", got)
	}
}
