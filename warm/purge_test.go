package warm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// TestPurgeStockMemcachedMoveBack runs issue 10's join, update, leave
// scenario on stock memcached with a static topology, which has no gossip
// to purge by itself: a3 joins zone a, the keys it takes are updated, a3
// leaves. With Purge run after the join, no old value is read afterwards,
// nor with the writer's former-owner deletes alone (client.Config.
// FormerOwnerWindow: the update follows the join within it); with neither
// (the control), the old owners serve theirs. The purge is tested with the
// deletes off: it is what covers keys not written within the window.
func TestPurgeStockMemcachedMoveBack(t *testing.T) {
	for _, tc := range []struct {
		purge, formerDeletes bool
	}{{true, false}, {false, true}, {false, false}} {
		purge := tc.purge
		t.Run(fmt.Sprintf("purge=%t,former-owner-deletes=%t", purge, tc.formerDeletes), func(t *testing.T) {
			procs := map[string]*testproc.Process{}
			for _, id := range []string{"a1", "a2", "a3", "b1"} {
				procs[id] = testproc.StartMemcached(t)
			}
			node := func(id string) replication.Node {
				return replication.Node{ID: id, Zone: id[:1], Addr: procs[id].Addr}
			}
			before := replication.Topology{Epoch: 1, Nodes: []replication.Node{node("a1"), node("a2"), node("b1")}}
			joined := replication.Topology{Epoch: 2, Nodes: []replication.Node{node("a1"), node("a2"), node("a3"), node("b1")}}
			after := replication.Topology{Epoch: 3, Nodes: before.Nodes}

			window := time.Duration(-1)
			if tc.formerDeletes {
				window = 0 // the default
			}
			c, err := client.New(client.Config{Zone: "a", Topology: before, WritePolicy: replication.All, FormerOwnerWindow: window,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			var keys []string
			for i := range 300 {
				keys = append(keys, fmt.Sprint("purge-", i))
			}
			write(t, c, keys, "v1")
			if err := c.SetTopology(joined); err != nil {
				t.Fatal(err)
			}
			p, _ := replication.NewPlacement(joined, sharding.Config{})
			var moved []string
			for _, k := range keys {
				if n, _ := p.Zone("a").ReadOwner(k); n.ID == "a3" {
					moved = append(moved, k)
				}
			}
			if purge {
				st, err := Purge(ctx, PurgeConfig{Topology: joined})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("purge after the join: %v", st)
				// b1 and a3 are skipped: b1 is its zone's only owner.
				if st.Deleted != int64(len(moved)) || st.Nodes != 3 || st.Skipped != 1 || st.Errors != 0 {
					t.Fatalf("purge %v: want %d deleted on 3 nodes, b1 skipped", st, len(moved))
				}
			}
			write(t, c, moved, "v2")
			if err := c.SetTopology(after); err != nil {
				t.Fatal(err)
			}
			old := 0
			for _, k := range moved {
				it, err := c.Get(ctx, k)
				switch {
				case errors.Is(err, client.ErrCacheMiss):
				case err != nil:
					t.Fatal(err)
				case string(it.Value) != "v2":
					old++
				}
			}
			t.Logf("purge=%t, former-owner deletes %t: %d keys moved to a3 and back, %d read old", purge, tc.formerDeletes, len(moved), old)
			if (purge || tc.formerDeletes) && old != 0 {
				t.Fatalf("%d of %d keys read the value from before the join", old, len(moved))
			}
			if !purge && !tc.formerDeletes && old == 0 {
				t.Fatal("control: without the purge no old value was read")
			}
		})
	}
}

func write(t *testing.T, c *client.Client, keys []string, v string) {
	t.Helper()
	for _, k := range keys {
		if _, err := c.Set(context.Background(), client.Item{Key: k, Value: []byte(v)}); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
}

func TestPurgeRejectsUnplaceableTopology(t *testing.T) {
	top := replication.Topology{Nodes: []replication.Node{{ID: "a1", Zone: "a", Addr: "127.0.0.1:1", Weight: 2}}}
	if _, err := Purge(context.Background(), PurgeConfig{Topology: top, Sharding: sharding.Config{Mode: sharding.HashKetamaEVCache}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v, want ErrConfig", err)
	}
}
