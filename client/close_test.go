package client

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/replication"
)

// Close gives pending repairs CloseTimeout to run: a repair that can run
// does, and Close then reports nothing.
func TestCloseDrainsPendingRepairs(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.Faults = FaultConfig{Rules: []FaultRule{{Node: "c0", Ops: []string{"delete", "repair"}, Share: 1}}}
		c.Repair.MinBackoff = time.Hour
		c.Repair.MaxBackoff = time.Hour
		c.CloseTimeout = 10 * time.Second
	})
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the repair backing off for an hour", func() bool {
		return testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("retry")) >= 1
	})
	c.SetFaults(FaultConfig{})
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("ok")); n != 1 {
		t.Fatalf("repairs_total{ok} = %v after Close", n)
	}
	k, _ := c.c.mapKey("k")
	if !gone(direct(t, f.proc("c0").Addr).Get(ctx, k.node)) {
		t.Fatal("c0 after Close drained the repair: the key is still there")
	}
}

// Close reports the repairs it could not run: without a spool they are
// lost; with one they stay in it and the next client takes them over.
func TestCloseReportsRepairsLeft(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	f.proc("c0").Kill()
	dir := t.TempDir()
	for _, spooled := range []bool{false, true} {
		c := newTestClient(t, f.topo, "a", func(c *Config) {
			c.CloseTimeout = 200 * time.Millisecond
			if spooled {
				c.RepairSpoolDir = dir
			}
		})
		for _, k := range []string{"k1", "k2", "k3"} {
			if _, err := c.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "three repairs pending", func() bool { return c.PendingRepairs() == 3 })
		err := c.Close()
		want := "3 repairs abandoned (no RepairSpoolDir)"
		if spooled {
			want = "3 repairs not run, 3 left in the spool"
		}
		if !errors.Is(err, ErrRepairsPending) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Close (spool %v): %v, want ErrRepairsPending with %q", spooled, err, want)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+spoolExt))
	if len(segs) != 1 {
		t.Fatalf("segments after Close: %v", segs)
	}
	// The next client's topology lacks c0: its repairs wait as those of an
	// absent node do, and stay in the spool through its Close.
	without := replication.Topology{Epoch: 1, Nodes: f.topo.Nodes[:2]}
	next := newTestClient(t, without, "a", func(c *Config) { c.RepairSpoolDir = dir; c.CloseTimeout = -1 })
	if n := testutil.ToFloat64(next.c.metrics.spoolReplayed); n != 3 || next.PendingRepairs() != 3 {
		t.Fatalf("the next client took over %v repairs, %d pending; want 3", n, next.PendingRepairs())
	}
	eventually(t, "the repairs parked for an absent node", func() bool {
		return testutil.ToFloat64(next.c.metrics.repairs.WithLabelValues("absent")) == 3
	})
	if err := next.Close(); !errors.Is(err, ErrRepairsPending) {
		t.Fatalf("Close: %v", err)
	}
	// The one after knows c0's address under another ID: matched by it.
	renamed := replication.Topology{Epoch: 1, Nodes: append([]replication.Node(nil), f.topo.Nodes...)}
	renamed.Nodes[2].ID = "c9"
	last := newTestClient(t, renamed, "a", func(c *Config) { c.RepairSpoolDir = dir })
	if !last.c.repairs.Has("c9", "k1") || last.PendingRepairs() != 3 {
		t.Fatalf("repairs of c0 not matched to c9 by address: %d pending", last.PendingRepairs())
	}
}

// A full spool keeps a new repair in memory only, and counts it.
func TestRepairSpoolFull(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	f.proc("c0").Kill()
	dir := t.TempDir()
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.RepairSpoolDir = dir
		c.RepairSpoolBytes = spoolHeaderLen + 60 // one repair record, not two
		c.CloseTimeout = -1
	})
	for _, k := range []string{"full-1", "full-2"} {
		if _, err := c.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "two repairs pending", func() bool { return c.PendingRepairs() == 2 })
	if n := testutil.ToFloat64(c.c.metrics.spoolFull); n != 1 {
		t.Fatalf("repair_spool_full_total = %v, want 1", n)
	}
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "2 repairs not run, 1 left in the spool") {
		t.Fatalf("Close: %v", err)
	}
	next := newTestClient(t, f.topo, "a", func(c *Config) { c.RepairSpoolDir = dir })
	if n := testutil.ToFloat64(next.c.metrics.spoolReplayed); n != 1 {
		t.Fatalf("taken over %v, want the 1 spooled", n)
	}
}
