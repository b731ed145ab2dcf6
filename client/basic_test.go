package client

import (
	"errors"
	"fmt"
	"testing"

	"github.com/zonecache/zonecache/replication"
)

func TestSetAllThenGetHitsZonecached(t *testing.T) { testSetAllThenGetHits(t, "zonecached") }
func TestSetAllThenGetHitsMemcached(t *testing.T)  { testSetAllThenGetHits(t, "memcached") }

// Every Get after an acknowledged Set(policy all) hits, from every zone,
// and every replica holds the value.
func testSetAllThenGetHits(t *testing.T, server string) {
	f := startFleet(t, server, []string{"a", "b", "c"}, 2)
	ctx := testCtx(t)
	clients := map[string]*Client{}
	for _, z := range []string{"a", "b", "c"} {
		clients[z] = newTestClient(t, f.topo, z, func(c *Config) { c.WritePolicy = replication.All })
	}
	const n = 300
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("key-%d", i)
		res, err := clients[[]string{"a", "b", "c"}[i%3]].Set(ctx, Item{Key: key, Value: []byte("v" + key)})
		if err != nil || len(res.Failed) != 0 || res.Replicas != 3 {
			t.Fatalf("Set %s: %+v %v", key, res, err)
		}
		for z, c := range clients {
			it, err := c.Get(ctx, key)
			if err != nil || string(it.Value) != "v"+key || it.Key != key {
				t.Fatalf("zone %s Get %s after Set(all): %q %v", z, key, it.Value, err)
			}
		}
		// Every replica holds it: look behind the client's back.
		if i%50 == 0 {
			for _, z := range []string{"a", "b", "c"} {
				m := replicaOf(clients["a"], z, key)
				it, err := direct(t, m.node.Addr).Get(ctx, key)
				if err != nil || string(it.Value) != "v"+key {
					t.Fatalf("replica %s of %s: %q %v", m.node.ID, key, it.Value, err)
				}
			}
		}
	}
	if _, err := clients["a"].Get(ctx, "never-set"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("missing key: %v, want ErrCacheMiss", err)
	}
	if _, err := clients["b"].Delete(ctx, "key-1"); err != nil {
		t.Fatal(err)
	}
	for z, c := range clients {
		if _, err := c.Get(ctx, "key-1"); !errors.Is(err, ErrCacheMiss) {
			t.Fatalf("zone %s after Delete: %v", z, err)
		}
	}
}

func TestClosedClient(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a"}, 1)
	c := newTestClient(t, f.topo, "a", nil)
	ctx := testCtx(t)
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if _, err := c.Batch().Set(ctx, Item{Key: "k", Value: []byte("v")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if _, err := c.GetMulti(ctx, []string{"k"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetMulti after Close: %v", err)
	}
	if err := c.SetTopology(f.topo); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetTopology after Close: %v", err)
	}
}
