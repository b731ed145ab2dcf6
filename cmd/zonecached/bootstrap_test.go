package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// freeAddr returns a free 127.0.0.1:port.
func freeAddr(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
}

// A fleet started as the README's worked example (no --state) serves
// reads; the node started first, whose --join seed is down, keeps running
// and joins the seed once it is up.
func TestWorkedExampleFleetServesReads(t *testing.T) {
	gossipA, gossipB := freeAddr(t), freeAddr(t)
	adminA, adminB := freeAddr(t), freeAddr(t)
	b := testproc.StartZonecached(t, "--zone", "b", "--node-name", "b-1", "--gossip-addr", gossipB,
		"--join", gossipA, "--admin-addr", adminB, "--gossip-profile", "local", "--rejoin-interval", "200ms")
	testproc.Eventually(t, 30*time.Second, "b says its seed did not answer", func() bool {
		return strings.Contains(b.Output(), "no seed answered")
	})
	if b.Exited() {
		t.Fatalf("b exited with its seed down:\n%s", b.Output())
	}
	testproc.StartZonecached(t, "--zone", "a", "--node-name", "a-1", "--gossip-addr", gossipA,
		"--join", gossipB, "--admin-addr", adminA, "--gossip-profile", "local")

	ctx := context.Background()
	var top replication.Topology
	testproc.Eventually(t, 30*time.Second, "both nodes serving in b's topology", func() bool {
		var err error
		top, err = admin.New(adminB).Topology(ctx)
		return err == nil && len(top.Nodes) == 2 && top.Nodes[0].State == replication.Serving &&
			top.Nodes[1].State == replication.Serving
	})
	for _, a := range []string{adminA, adminB} {
		testproc.Eventually(t, 30*time.Second, "/readyz 200 at "+a, func() bool { return admin.New(a).Ready(ctx) == nil })
	}
	c, err := client.New(client.Config{Zone: "a", Topology: top})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Set(ctx, client.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if it, err := c.Get(ctx, "k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("Get = %q, %v; want v", it.Value, err)
	}
}

// A node started warming says so in its log and answers /readyz with 503
// until it is promoted.
func TestWarmingNodeIsNotReady(t *testing.T) {
	adminAddr := freeAddr(t)
	p := testproc.StartZonecached(t, "--zone", "a", "--gossip-addr", freeAddr(t), "--admin-addr", adminAddr,
		"--gossip-profile", "local", "--state", "warming", "--admin-token-file", tokenFile(t, testToken, 0o600))
	c := admin.New(adminAddr)
	c.Token = testToken
	ctx := context.Background()
	testproc.Eventually(t, 30*time.Second, "admin answering", func() bool { return c.Healthy(ctx) == nil })
	if err := c.Ready(ctx); !errors.Is(err, admin.ErrUnavailable) {
		t.Fatalf("Ready of a warming node: %v, want ErrUnavailable", err)
	}
	if !strings.Contains(p.Output(), "warming: serving no reads") {
		t.Errorf("log does not say the node serves no reads:\n%s", p.Output())
	}
	if _, err := c.SetState(ctx, replication.Serving); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready once promoted: %v", err)
	}
}

// A node goes warming, draining, serving through a reshard that adds it
// (draining at the switch: it serves reads while the old owners still take
// writes), and a leaving node draining, then warming: /readyz says ready
// exactly while the node serves reads, so that a load balancer or an
// orchestrator reading it never pulls a node clients read.
func TestReadyzSaysReadyWhileTheNodeServesReads(t *testing.T) {
	adminAddr := freeAddr(t)
	testproc.StartZonecached(t, "--zone", "a", "--gossip-addr", freeAddr(t), "--admin-addr", adminAddr,
		"--gossip-profile", "local", "--state", "warming", "--admin-token-file", tokenFile(t, testToken, 0o600))
	c := admin.New(adminAddr)
	c.Token = testToken
	ctx := context.Background()
	testproc.Eventually(t, 30*time.Second, "admin answering", func() bool { return c.Healthy(ctx) == nil })
	for _, step := range []struct {
		to    replication.NodeState
		ready bool
	}{
		{replication.Warming, false}, {replication.Draining, true}, {replication.Serving, true},
		{replication.Draining, true}, {replication.Warming, false}, {replication.Joining, false},
	} {
		if _, err := c.SetState(ctx, step.to); err != nil {
			t.Fatal(err)
		}
		if err := c.Ready(ctx); (err == nil) != step.ready || (err != nil && !errors.Is(err, admin.ErrUnavailable)) {
			t.Errorf("%s: Ready = %v, want ready %v", step.to, err, step.ready)
		}
	}
}

// The README's one-node development setup: a standalone zonecached (no
// --zone) and a client whose topology is that node alone.
func TestOneNodeDevelopmentSetup(t *testing.T) {
	p := testproc.StartZonecached(t)
	c, err := client.New(client.Config{Zone: "dev", Topology: replication.Topology{Epoch: 1,
		Nodes: []replication.Node{{ID: "dev-1", Zone: "dev", Addr: p.Addr}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Set(ctx, client.Item{Key: "greeting", Value: []byte("hello")}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if it, err := c.Get(ctx, "greeting"); err != nil || string(it.Value) != "hello" {
		t.Fatalf("Get = %q, %v; want hello", it.Value, err)
	}
	if _, err := c.Get(ctx, "absent"); !errors.Is(err, client.ErrCacheMiss) {
		t.Fatalf("Get of an absent key: %v, want ErrCacheMiss", err)
	}
}
