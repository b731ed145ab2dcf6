package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// Swapping topologies under load (a node joins as warming, serves, an old
// one drains and leaves) returns no error and no miss to any caller, and
// reuses the transports of nodes that stay.
func TestTopologySwapUnderLoad(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 2)
	extra := testproc.StartZonecachedOn(t, zoneHosts["a"], "-m", "64")
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.NodeGrace = 200 * time.Millisecond
	})
	keys := loadKeys(t, c, "swap", 200)
	a1 := c.c.view.Load().byID["a1"].tn

	var ops, errs atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := keys[i%len(keys)]
				var err error
				if i%5 == 0 {
					_, err = c.Set(context.Background(), Item{Key: key, Value: []byte(key)})
				} else {
					var it Item
					it, err = c.Get(context.Background(), key)
					if err == nil && string(it.Value) != key {
						err = fmt.Errorf("wrong value %q", it.Value)
					}
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s: %w", key, err))
				}
				ops.Add(1)
			}
		}(g)
	}
	topo := f.topo
	step := func(edit func(nodes []replication.Node) []replication.Node) {
		t.Helper()
		nodes := edit(append([]replication.Node(nil), topo.Nodes...))
		topo = replication.Topology{Epoch: topo.Epoch + 1, Nodes: nodes}
		if err := c.SetTopology(topo); err != nil {
			t.Fatal(err)
		}
		at := ops.Load()
		eventually(t, "load on the new view", func() bool { return ops.Load() > at+300 })
	}
	setState := func(id string, s replication.NodeState) func([]replication.Node) []replication.Node {
		return func(nodes []replication.Node) []replication.Node {
			for i := range nodes {
				if nodes[i].ID == id {
					nodes[i].State = s
				}
			}
			return nodes
		}
	}
	step(func(nodes []replication.Node) []replication.Node {
		return append(nodes, replication.Node{ID: "a2", Zone: "a", Addr: extra.Addr, State: replication.Warming})
	})
	step(setState("a2", replication.Serving))
	step(setState("a0", replication.Draining))
	step(func(nodes []replication.Node) []replication.Node {
		out := nodes[:0]
		for _, n := range nodes {
			if n.ID != "a0" {
				out = append(out, n)
			}
		}
		return out
	})
	close(stop)
	wg.Wait()
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed across topology swaps; first: %v", n, ops.Load(), firstErr.Load())
	}
	if c.c.view.Load().byID["a1"].tn != a1 {
		t.Fatal("the transport of a node that stayed was not reused")
	}
	a0 := f.proc("a0").Addr
	eventually(t, "the transport of the removed node closed", func() bool {
		c.c.nmu.Lock()
		defer c.c.nmu.Unlock()
		_, open := c.c.nodes[a0]
		return !open && len(c.c.nodes) == 6
	})
	if err := c.SetTopology(replication.Topology{Epoch: 1, Nodes: f.topo.Nodes}); err == nil {
		t.Fatal("an older epoch was accepted")
	}
}

func TestTopologyFromFile(t *testing.T) {
	path := t.TempDir() + "/topology.json"
	const doc = `{"epoch": 3, "nodes": [
	  {"id": "a0", "zone": "a", "addr": "127.0.0.1:1"},
	  {"id": "a1", "zone": "a", "addr": "127.0.0.1:2", "state": "warming"},
	  {"id": "b0", "zone": "b", "addr": "127.0.0.2:1", "weight": 2}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	topo, err := TopologyFromFile(path)
	if err != nil || topo.Epoch != 3 || len(topo.Nodes) != 3 || topo.Nodes[1].State != replication.Warming {
		t.Fatalf("%+v %v", topo, err)
	}
	c := newTestClient(t, topo, "a", nil)
	v := c.c.view.Load()
	if len(v.zones["a"].readM) != 1 || len(v.zones["a"].writeM) != 2 || v.order[0] != "a" {
		t.Fatalf("zone a: %d read nodes, %d write nodes, order %v", len(v.zones["a"].readM), len(v.zones["a"].writeM), v.order)
	}
	if err := os.WriteFile(path, []byte(`{"nodes": [{"id": "x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := TopologyFromFile(path); !errors.Is(err, replication.ErrInvalidTopology) {
		t.Fatalf("invalid topology: %v", err)
	}
	if _, err := New(Config{Topology: topo}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("a config without a zone: %v", err)
	}
}
