// Package reshardtest holds what the tests of package reshard and of the
// zonecache CLI's reshard share: a gossiping fleet of real zonecached
// processes, keys written to their owners, and the check that each node of
// a zone holds exactly the keys it owns.
package reshardtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// Keys returns n keys named prefix:0, prefix:1, ...
func Keys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s:%d", prefix, i)
	}
	return keys
}

// StartGossip starts a gossiping zonecached fleet of cfg (Binary and
// Gossip set here), stopped when the test ends, and waits until its seeds
// show every node.
func StartGossip(t testing.TB, cfg fleet.Config) *fleet.Fleet {
	t.Helper()
	cfg.Binary, cfg.Gossip = testproc.ZonecachedBinary(t), true
	f, err := fleet.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	if _, err := fleet.WaitTopology(context.Background(), discovery.Config{Seeds: f.AdminAddrs()}, len(f.Nodes()), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return f
}

// Admins maps the ids of f's nodes to their admin addresses.
func Admins(f *fleet.Fleet) map[string]string {
	out := map[string]string{}
	for _, n := range f.Nodes() {
		out[n.ID] = n.AdminAddr
	}
	return out
}

// ForOwners calls fn with each key's read owner in every zone of top.
func ForOwners(t testing.TB, top replication.Topology, keys []string, fn func(*nodeclient.Node, string)) {
	t.Helper()
	p, err := replication.NewPlacement(top, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*nodeclient.Node{}
	for _, n := range top.Nodes {
		nodes[n.ID] = nodeclient.NewNode(n.Addr, nodeclient.Config{})
		defer nodes[n.ID].Close()
	}
	for _, k := range keys {
		for _, z := range top.Zones() {
			if owner, ok := p.Zone(z).ReadOwner(k); ok {
				fn(nodes[owner.ID], k)
			}
		}
	}
}

// SetOwners writes keys to their read owner in every zone of top, each
// key's value the key.
func SetOwners(t testing.TB, top replication.Topology, keys []string) {
	t.Helper()
	ForOwners(t, top, keys, func(nc *nodeclient.Node, key string) {
		if err := nc.Online().Set(context.Background(), nodeclient.Item{Key: key, Value: []byte(key)}); err != nil {
			t.Fatal(err)
		}
	})
}

// CheckHeldExactly checks that every node of zone in top holds exactly
// the keys it owns there (each valued the key) and owns some, and that a
// client of that zone alone hits every key.
func CheckHeldExactly(t testing.TB, top replication.Topology, zone string, keys []string) {
	t.Helper()
	ctx := context.Background()
	p, err := replication.NewPlacement(top, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range top.ZoneNodes(zone, nil) {
		nc := nodeclient.NewNode(n.Addr, nodeclient.Config{})
		owned := 0
		for _, k := range keys {
			owner, _ := p.Zone(zone).ReadOwner(k)
			it, err := nc.Online().Get(ctx, k)
			switch {
			case owner.ID == n.ID && (err != nil || string(it.Value) != k):
				t.Errorf("%s on its owner %s: %q %v", k, n.ID, it.Value, err)
			case owner.ID != n.ID && !errors.Is(err, nodeclient.ErrCacheMiss):
				t.Errorf("%s on %s, which does not own it: %q %v", k, n.ID, it.Value, err)
			case owner.ID == n.ID:
				owned++
			}
		}
		nc.Close()
		if owned == 0 {
			t.Errorf("%s owns no key", n.ID)
		}
	}
	c, err := client.New(client.Config{Zone: zone, Topology: replication.Topology{Epoch: 1, Nodes: top.ZoneNodes(zone, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range keys {
		if it, err := c.Get(ctx, k); err != nil || string(it.Value) != k {
			t.Fatalf("a client of zone %s alone: Get %s: %q %v", zone, k, it.Value, err)
		}
	}
}
