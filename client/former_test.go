package client

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// TestWriteAfterOwnershipMovedBackDeletesAtTheFormerOwner moves a key's
// owner away (a1 dropped: a0 owns it and takes "old") and back (a1
// again), and writes the key on the newest view while a second client's
// view lags on the middle one, where a0 owns the key: the lagging client
// must not read "old" from a0. With FormerOwnerWindow off it does (the
// control), as the checker's sigstop fault found (a node thawed and taken
// back, a reader in another zone falling back on a lagging view).
func TestWriteAfterOwnershipMovedBackDeletesAtTheFormerOwner(t *testing.T) {
	for _, server := range []string{"memcached", "zonecached"} {
		t.Run(server, func(t *testing.T) {
			f := startFleet(t, server, []string{"a"}, 2)
			for _, tc := range []struct {
				name   string
				window int // FormerOwnerWindow: 0 default, -1 off
				delete bool
			}{{"set", 0, false}, {"delete", 0, true}, {"control-off", -1, true}} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := testCtx(t)
					full := f.topo
					full.Epoch = 1
					var edit func(*Config)
					if tc.window < 0 {
						edit = func(c *Config) { c.FormerOwnerWindow = -1 }
					}
					writer := newTestClient(t, full, "a", edit)
					lagging := newTestClient(t, full, "a", edit)
					var key string
					for i := 0; key == ""; i++ {
						if k := fmt.Sprintf("former-%s-%d", tc.name, i); replicaOf(writer, "a", k).node.ID == "a1" {
							key = k
						}
					}
					without := replication.Topology{Epoch: 2, Nodes: []replication.Node{full.Nodes[0]}}
					back := full
					back.Epoch = 3
					for _, c := range []*Client{writer, lagging} {
						if err := c.SetTopology(without); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := writer.Set(ctx, Item{Key: key, Value: []byte("old")}); err != nil {
						t.Fatal(err)
					}
					if err := writer.SetTopology(back); err != nil {
						t.Fatal(err)
					}
					if tc.delete {
						if _, err := writer.Delete(ctx, key); err != nil {
							t.Fatal(err)
						}
					} else if _, err := writer.Set(ctx, Item{Key: key, Value: []byte("new")}); err != nil {
						t.Fatal(err)
					}
					it, err := lagging.Get(ctx, key)
					switch {
					case err != nil && !errors.Is(err, ErrCacheMiss):
						t.Fatalf("lagging read: %v", err)
					case tc.window < 0:
						if err != nil || string(it.Value) != "old" {
							t.Fatalf("control: the lagging read got %q, %v; want the stale \"old\" that the former-owner delete prevents", it.Value, err)
						}
					case err == nil && string(it.Value) == "old":
						t.Fatalf("the lagging client read %q from the former owner after the write on the newest view was acknowledged", it.Value)
					}
				})
			}
		})
	}
}

// The replaced views are dropped by the first write after their window:
// writes then look at no former owner, and the views are not kept.
func TestFormerViewsAreDroppedAfterTheWindow(t *testing.T) {
	full := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a0", Zone: "a", Addr: "127.0.0.1:1"}, {ID: "a1", Zone: "a", Addr: "127.0.0.1:2"}}}
	c := newTestClient(t, full, "a", func(c *Config) { c.FormerOwnerWindow = 50 * time.Millisecond })
	without := replication.Topology{Epoch: 2, Nodes: full.Nodes[:1]}
	if err := c.SetTopology(without); err != nil {
		t.Fatal(err)
	}
	if c.c.former.Load() == nil {
		t.Fatal("no former view kept after a topology change")
	}
	v := c.c.view.Load()
	eventually(t, "the former views dropped after the window", func() bool {
		return c.c.formerOwners(v, "k", nil) == nil && c.c.former.Load() == nil
	})
}

// TestFormerOwnersAreTheNodesThatServedReads: after a topology change a
// write deletes the key where the replaced view read it, not where that
// view only wrote it: zone d's first warming node took every write of
// zone d but served no read, so a write once d-2 joins sends it no
// delete, while zone a's former owner of a key a1 took over gets one.
func TestFormerOwnersAreTheNodesThatServedReads(t *testing.T) {
	node := func(id, zone string, st replication.NodeState) replication.Node {
		return replication.Node{ID: id, Zone: zone, Addr: "127.0.0.1:" + id[1:], State: st}
	}
	before := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		node("a1", "a", replication.Serving), node("a2", "a", replication.Warming),
		node("d3", "d", replication.Warming)}}
	after := replication.Topology{Epoch: 2, Nodes: []replication.Node{
		node("a1", "a", replication.Serving), node("a2", "a", replication.Serving),
		node("d3", "d", replication.Warming), node("d4", "d", replication.Warming)}}
	c := newTestClient(t, before, "a", nil)
	if err := c.SetTopology(after); err != nil {
		t.Fatal(err)
	}
	v := c.c.view.Load()
	var toA1, toD3, movedInD int
	for i := range 400 {
		key := fmt.Sprintf("k%d", i)
		targets := v.writeTargets(key)
		if slices.ContainsFunc(targets, func(m *member) bool { return m.node.ID == "d4" }) {
			movedInD++
		}
		for _, m := range c.c.formerOwners(v, key, targets) {
			switch m.node.ID {
			case "a1":
				toA1++
			case "d3":
				toD3++
			default:
				t.Fatalf("%s: former owner %s", key, m.node.ID)
			}
		}
	}
	if movedInD == 0 || toA1 == 0 {
		t.Fatalf("no key moved to d4 (%d) or from a1 to a2 (%d): the test proves nothing", movedInD, toA1)
	}
	if toD3 != 0 {
		t.Fatalf("%d writes would delete at d3, which served no read before (%d keys moved to d4)", toD3, movedInD)
	}
}
