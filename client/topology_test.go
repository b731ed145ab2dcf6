package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// Swapping topologies under load (a node joins as warming, serves, an old
// one drains and leaves) returns no error and no miss to any caller, and
// reuses the transports of nodes that stay.
func TestTopologySwapUnderLoad(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 2)
	extra := testproc.StartZonecachedOn(t, zoneHosts["a"], "-m", "64")
	c := newTestClient(t, f.topo, "a", func(c *Config) { c.WritePolicy = replication.All })
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
	if err := c.SetTopology(replication.Topology{Epoch: 1, Nodes: f.topo.Nodes}); err == nil {
		t.Fatal("an older epoch was accepted")
	}
}
