package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// ownedIn returns the keys node id reads in its zone of top.
func ownedIn(t *testing.T, top replication.Topology, zone, id string, keys []string) []string {
	t.Helper()
	p, err := replication.NewPlacement(top, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if o, ok := p.Zone(zone).ReadOwner(k); ok && o.ID == id {
			out = append(out, k)
		}
	}
	return out
}

// setOn writes each key, valued value, to its read owner in zone of top,
// as a client whose view is top does.
func setOn(t *testing.T, top replication.Topology, zone string, keys []string, value string) {
	t.Helper()
	p, err := replication.NewPlacement(top, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*nodeclient.Node{}
	for _, k := range keys {
		o, _ := p.Zone(zone).ReadOwner(k)
		nc := nodes[o.ID]
		if nc == nil {
			nc = nodeclient.NewNode(o.Addr, nodeclient.Config{})
			defer nc.Close()
			nodes[o.ID] = nc
		}
		if err := nc.Online().Set(context.Background(), nodeclient.Item{Key: k, Value: []byte(value)}); err != nil {
			t.Fatalf("set %s on %s: %v", k, o.ID, err)
		}
	}
}

// valuesOn returns how many of keys node addr returns, by value.
func valuesOn(t *testing.T, addr string, keys []string) map[string]int {
	t.Helper()
	nc := nodeclient.NewNode(addr, nodeclient.Config{})
	defer nc.Close()
	got := map[string]int{}
	for _, k := range keys {
		it, err := nc.Online().Get(context.Background(), k)
		switch {
		case errors.Is(err, nodeclient.ErrCacheMiss):
			got["miss"]++
		case err != nil:
			got["error"]++
		default:
			got[string(it.Value)]++
		}
	}
	return got
}

// A node the fleet declares dead while it still runs must not serve,
// once the fleet takes it back, a value older than a write made to its
// keys' other owner meanwhile. a-3 probes rarely (10 s), so that its own
// pause bound (3·PI/2 = 15 s) does not fire: only membership can tell it
// that the fleet dropped it. It is frozen until every other node has
// dropped it, the keys it owned are written (v2) to their owner in the
// fleet without it, and it is thawed. memberlist on a-3 then reads the
// suspicion queued for it before the death: it refutes the suspicion,
// which raises its incarnation, and ignores the death as older, so it
// never logs a refuted death. Before the dropped notices, a-3 served all
// of its v1 values again.
func TestNodeDeclaredDeadServesNothingOlderOnceBack(t *testing.T) {
	ctx := context.Background()
	var logs testproc.SyncBuffer
	f, err := fleet.Start(ctx, fleet.Config{Binary: testproc.ZonecachedBinary(t), Gossip: true, Zones: []string{"a"}, NodesPerZone: 3, Output: &logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	a3, err := f.Add(ctx, "a", "a-3b", "--gossip-probe-interval", "10s")
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, n := range f.Nodes() {
		if n != a3 {
			others = append(others, n.AdminAddr)
		}
	}
	full, err := fleet.WaitTopology(ctx, discovery.Config{Seeds: f.AdminAddrs()}, 4, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	setOn(t, full, "a", keys, "v1")
	mine := ownedIn(t, full, "a", a3.ID, keys)
	if got := valuesOn(t, a3.Addr, mine); got["v1"] != len(mine) || len(mine) == 0 {
		t.Fatalf("a-3 before: %v of %d", got, len(mine))
	}

	if err := a3.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	var without replication.Topology
	testproc.Eventually(t, 12*time.Second, "every other node drops the frozen a-3", func() bool {
		for _, s := range others {
			top, err := discovery.Fetch(ctx, discovery.Config{Seeds: []string{s}})
			if err != nil || len(top.Nodes) != 3 {
				return false
			}
			without = top
		}
		return true
	})
	setOn(t, without, "a", mine, "v2")
	if err := a3.Thaw(); err != nil {
		t.Fatal(err)
	}
	t.Logf("a-3 frozen %v", time.Since(frozen).Round(time.Millisecond))
	if _, err := fleet.WaitTopology(ctx, discovery.Config{Seeds: others}, 4, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	testproc.Eventually(t, 10*time.Second, "a-3 says the fleet holds it dead", func() bool {
		err := a3.Admin().Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "held dead by the fleet") &&
			metricValue(t, a3.AdminAddr, "zonecache_membership_held_dead") == 1
	})
	// a-3 must serve no v1 until it serves again: the fence opens a pause
	// bound after the last notice, then the rejoin quarantine (4 s) ends.
	stale, hits := 0, 0
	probe := nodeclient.NewNode(a3.Addr, nodeclient.Config{})
	defer probe.Close()
	testproc.Eventually(t, 40*time.Second, "a-3 serves again", func() bool {
		got := valuesOn(t, a3.Addr, mine)
		stale += got["v1"]
		_ = probe.Online().Set(ctx, nodeclient.Item{Key: "fresh", Value: []byte("x")})
		it, err := probe.Online().Get(ctx, "fresh")
		if err == nil && string(it.Value) == "x" {
			hits = got["v2"]
			return true
		}
		return stale > 0
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "a-3b") && (strings.Contains(line, "Refuting") || strings.Contains(line, "invalidated") || strings.Contains(line, " dead")) {
			t.Log(line)
		}
	}
	if stale > 0 {
		t.Fatalf("a-3, back in the fleet, served %d values older than the v2 written to their owner while the fleet had dropped it", stale)
	}
	if hits != 0 {
		t.Errorf("a-3 holds %d v2 values it never received", hits)
	}
	if n := metricValue(t, a3.AdminAddr, `zonecache_server_invalidations_total{cause="isolation"}`); n < 1 {
		t.Errorf("a-3 invalidated its store %v times on being taken back, want at least 1", n)
	}
}
