package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// quietLogger keeps breaker and repair logs out of test output.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// zoneHosts are the loopback hosts of the test zones.
var zoneHosts = map[string]string{"a": "127.0.0.1", "b": "127.0.0.2", "c": "127.0.0.3"}

// fleet is a set of real cache processes, per zone.
type fleet struct {
	procs map[string][]*testproc.Process // zone -> nodes
	topo  replication.Topology
}

// startFleet starts perZone nodes in each of zones ("a", "b", "c") with
// zonecached, or with memcached when server is "memcached".
func startFleet(t testing.TB, server string, zones []string, perZone int) *fleet {
	t.Helper()
	if server == "memcached" {
		testproc.RequireMemcached(t)
	}
	f := &fleet{procs: map[string][]*testproc.Process{}, topo: replication.Topology{Epoch: 1}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, z := range zones {
		for i := 0; i < perZone; i++ {
			wg.Add(1)
			go func(z string, i int) {
				defer wg.Done()
				var p *testproc.Process
				switch server {
				case "memcached":
					p = testproc.StartMemcachedOn(t, zoneHosts[z], "-m", "64")
				case "zonecached-text": // no meta commands, as memcached before 1.6
					p = testproc.StartZonecachedOn(t, zoneHosts[z], "-m", "64", "--disable-meta")
				default:
					p = testproc.StartZonecachedOn(t, zoneHosts[z], "-m", "64")
				}
				mu.Lock()
				defer mu.Unlock()
				for len(f.procs[z]) <= i {
					f.procs[z] = append(f.procs[z], nil)
				}
				f.procs[z][i] = p
			}(z, i)
		}
	}
	wg.Wait()
	for _, z := range zones {
		if len(f.procs[z]) != perZone {
			t.FailNow() // a start failed and reported why
		}
		for i, p := range f.procs[z] {
			if p == nil {
				t.FailNow()
			}
			f.topo.Nodes = append(f.topo.Nodes, replication.Node{ID: fmt.Sprintf("%s%d", z, i), Zone: z, Addr: p.Addr})
		}
	}
	return f
}

// proc returns the process of node id ("a0", "b1", ...).
func (f *fleet) proc(id string) *testproc.Process {
	return f.procs[id[:1]][int(id[1]-'0')]
}

// newTestClient returns a client of zone on f's topology; edit adjusts
// the config.
func newTestClient(t testing.TB, topo replication.Topology, zone string, edit func(*Config)) *Client {
	t.Helper()
	cfg := Config{Zone: zone, Topology: topo, Logger: quietLogger}
	// Generous timeouts: a loaded 2-core machine under -race must not
	// turn slowness into failures.
	cfg.Node.Online.Timeout = 5 * time.Second
	cfg.Node.DialTimeout = 3 * time.Second
	cfg.Node.Breaker.ProbeMax = 500 * time.Millisecond
	// Tests that leave repairs of dead nodes pending need not wait the
	// default 2 s at cleanup.
	cfg.CloseTimeout = 500 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// direct returns a transport to one node, to look at a replica behind the
// client's back.
func direct(t testing.TB, addr string) *nodeclient.Pool {
	t.Helper()
	n := nodeclient.NewNode(addr, nodeclient.Config{Logger: quietLogger, DialTimeout: 5 * time.Second, Online: nodeclient.PoolConfig{Timeout: 5 * time.Second}})
	t.Cleanup(func() { _ = n.Close() })
	return n.Online()
}

// replicaOf returns the node of zone that serves reads of key for c.
func replicaOf(c *Client, zone, key string) *member {
	k, _ := c.c.mapKey(key)
	return c.c.view.Load().readReplica(zone, k.node)
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached within 20s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
