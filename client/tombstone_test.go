package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecache/zonecache/nodeclient"
)

// holdsValue reports whether the node at addr holds a live value of key (a
// tombstone does not count).
func holdsValue(t *testing.T, addr, key string) bool {
	t.Helper()
	it, err := direct(t, addr).Get(context.Background(), key)
	if errors.Is(err, nodeclient.ErrCacheMiss) {
		return false
	}
	if err != nil {
		t.Fatalf("direct get %s at %s: %v", key, addr, err)
	}
	return it.Flags != TombstoneFlags
}

// gone reports whether a node's answer to a get is a deleted key: a miss,
// or a delete's tombstone.
func gone(it nodeclient.Item, err error) bool {
	return errors.Is(err, nodeclient.ErrCacheMiss) || err == nil && isTombstone(it.Flags)
}

func readRepairsDone(c *Client) float64 {
	n := 0.0
	for _, r := range []string{"ok", "not_stored", "error", "expired"} {
		n += testutil.ToFloat64(c.c.metrics.readRepairs.WithLabelValues(r))
	}
	return n
}

func TestReadRepairDoesNotResurrectDeleteMemcached(t *testing.T) {
	testReadRepairDoesNotResurrect(t, "memcached", 0)
}
func TestReadRepairDoesNotResurrectDeleteZonecached(t *testing.T) {
	testReadRepairDoesNotResurrect(t, "zonecached", 0)
}

// TestReadRepairResurrectsWithoutHoldOff shows what DeleteHoldOff < 0
// gives up: the same race puts the deleted value back in zone c.
func TestReadRepairResurrectsWithoutHoldOff(t *testing.T) {
	testReadRepairDoesNotResurrect(t, "memcached", -1)
}

// testReadRepairDoesNotResurrect: reader R (zone c) misses locally, reads
// v1 from another zone and starts a read repair, held just before it is
// sent; writer W (another process's client) deletes the key, acknowledged
// everywhere; then R's read repair is let go. Zone c must not hold v1.
// With holdOff < 0 (hold-off off) it asserts the opposite, the resurrection.
func testReadRepairDoesNotResurrect(t *testing.T, server string, holdOff time.Duration) {
	f := startFleet(t, server, []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	edit := func(c *Config) { c.DeleteHoldOff = holdOff }
	w := newTestClient(t, f.topo, "a", edit)
	r := newTestClient(t, f.topo, "c", edit)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // before r's Close, which waits for the held repair
	r.c.rrHook = func() {
		entered <- struct{}{}
		<-release
	}
	const key = "resurrect"
	if _, err := w.Set(ctx, Item{Key: key, Value: []byte("v1")}); err != nil {
		t.Fatalf("set: %v", err)
	}
	cAddr := replicaOf(r, "c", key).node.Addr
	eventually(t, "the set reached zone c", func() bool { return holdsValue(t, cAddr, key) })
	// Zone c lost its copy (a restart, an eviction).
	if err := direct(t, cAddr).Delete(ctx, key); err != nil {
		t.Fatalf("direct delete: %v", err)
	}
	it, err := r.Get(ctx, key)
	if err != nil || string(it.Value) != "v1" {
		t.Fatalf("get = %q, %v; want v1 from another zone", it.Value, err)
	}
	select { // the read repair of v1 to zone c is about to be sent
	case <-entered:
	case <-ctx.Done():
		t.Fatalf("no read repair started")
	}
	if _, err := w.Delete(ctx, key); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for _, z := range []string{"a", "b", "c"} {
		addr := replicaOf(w, z, key).node.Addr
		eventually(t, "delete reached zone "+z, func() bool { return !holdsValue(t, addr, key) })
	}
	before := readRepairsDone(r)
	let()
	eventually(t, "read repair finished", func() bool { return readRepairsDone(r) > before })
	if holdOff < 0 {
		if !holdsValue(t, cAddr, key) {
			t.Fatalf("without a hold-off the read repair was expected to resurrect the value")
		}
		return
	}
	if holdsValue(t, cAddr, key) {
		t.Fatalf("zone c holds the deleted value again after the read repair")
	}
	if it, err := r.Get(ctx, key); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("get after delete = %q, %v; want ErrCacheMiss", it.Value, err)
	}
}

// TestReadRepairOlderThanHoldOffDropped: a read repair that could not be
// sent within DeleteHoldOff of its read is dropped and counted, since a
// tombstone written after its local miss may have expired by then.
func TestReadRepairOlderThanHoldOffDropped(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "c"}, 1)
	ctx := testCtx(t)
	const holdOff = 500 * time.Millisecond
	r := newTestClient(t, f.topo, "c", func(c *Config) { c.DeleteHoldOff = holdOff })
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let)
	r.c.rrHook = func() {
		entered <- struct{}{}
		<-release
	}
	const key = "old"
	aAddr := replicaOf(r, "a", key).node.Addr
	if err := direct(t, aAddr).Set(ctx, nodeclient.Item{Key: key, Value: []byte("v1"), TTL: 3600}); err != nil {
		t.Fatal(err)
	}
	start := time.Now() // before the read: the repair is at least this old
	if it, err := r.Get(ctx, key); err != nil || string(it.Value) != "v1" {
		t.Fatalf("get = %q, %v", it.Value, err)
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("no read repair started")
	}
	eventually(t, "the hold-off passed", func() bool { return time.Since(start) > holdOff })
	let()
	expired := r.c.metrics.readRepairs.WithLabelValues("expired")
	eventually(t, "the read repair dropped", func() bool { return testutil.ToFloat64(expired) == 1 })
	if holdsValue(t, replicaOf(r, "c", key).node.Addr, key) {
		t.Fatal("an expired read repair was sent")
	}
}

// TestReadRepairDoesNotResurrectRepairDelete: as above, but zone c missed
// the writer's delete (an injected failure) and got it from the writer's
// repair queue: the repair's delete leaves a tombstone too, so the read
// repair of the value read before it fails.
func TestReadRepairDoesNotResurrectRepairDelete(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	w := newTestClient(t, f.topo, "a", nil)
	r := newTestClient(t, f.topo, "c", nil)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let)
	r.c.rrHook = func() {
		entered <- struct{}{}
		<-release
	}
	const key = "repaired"
	if _, err := w.Set(ctx, Item{Key: key, Value: []byte("v1")}); err != nil {
		t.Fatalf("set: %v", err)
	}
	cAddr := replicaOf(r, "c", key).node.Addr
	eventually(t, "the set reached zone c", func() bool { return holdsValue(t, cAddr, key) })
	if err := direct(t, cAddr).Delete(ctx, key); err != nil {
		t.Fatalf("direct delete: %v", err)
	}
	if it, err := r.Get(ctx, key); err != nil || string(it.Value) != "v1" {
		t.Fatalf("get = %q, %v; want v1 from another zone", it.Value, err)
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("no read repair started")
	}
	w.SetFaults(FaultConfig{Rules: []FaultRule{{Zone: "c", Ops: []string{"delete"}, Share: 1}}})
	res, err := w.Delete(ctx, key)
	if err != nil || len(res.Failed) != 1 {
		t.Fatalf("delete with zone c failing: %+v %v", res, err)
	}
	w.SetFaults(FaultConfig{})
	eventually(t, "the delete repaired on zone c", func() bool { return w.PendingRepairs() == 0 })
	if it, err := direct(t, cAddr).Get(ctx, key); err != nil || !isTombstone(it.Flags) {
		t.Fatalf("zone c after the repair: %+v %v, want a tombstone", it, err)
	}
	before := readRepairsDone(r)
	let()
	eventually(t, "read repair finished", func() bool { return readRepairsDone(r) > before })
	if holdsValue(t, cAddr, key) {
		t.Fatal("zone c holds the deleted value again after the read repair")
	}
}
