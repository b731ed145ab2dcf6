package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// A seed node restarted as a fresh standalone node (same name, zone and
// admin address, no --join, warming) answers /topology with itself alone.
// A client whose watch asks it first keeps the fleet: the view is held back
// because the other seeds disagree, and the watch follows them; the
// restarted node's old entry then leaves the client's view through gossip
// as a one-node change, and callers see no errors throughout.
func TestSeedRestartedStandaloneDoesNotShrinkClients(t *testing.T) {
	f := gossipFleet(t)
	victim := f.Zone("a")[0]
	seeds := []string{victim.AdminAddr, f.Zone("b")[0].AdminAddr, f.Zone("c")[0].AdminAddr}
	var top replication.Topology
	testproc.Eventually(t, 20*time.Second, "the fleet has gossiped to full size", func() bool {
		var err error
		top, err = discovery.Fetch(context.Background(), discovery.Config{Seeds: seeds, Logger: quiet()})
		return err == nil && len(top.Nodes) == 6
	})
	c, err := client.New(client.Config{Zone: "a", Topology: top, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := startLoad(t, c, 200)

	victim.Kill()
	standalone := testproc.StartZonecached(t, "--admin-addr", victim.AdminAddr, "--zone", "a", "--node-name", victim.ID,
		"--gossip-addr", "127.0.0.1:0", "--gossip-profile", "local", "--state", string(replication.Warming))
	testproc.Eventually(t, 20*time.Second, "the restarted seed serves a view of itself alone", func() bool {
		alone, err := discovery.Fetch(context.Background(), discovery.Config{Seeds: seeds[:1], Logger: quiet()})
		return err == nil && len(alone.Nodes) == 1 && alone.Nodes[0].EffectiveState() == replication.Warming
	})

	// The watch starts from the client's view (as a watch restarted by
	// the application does) and asks the restarted seed first.
	reg := prometheus.NewPedanticRegistry()
	var mu sync.Mutex
	fewest := len(top.Nodes)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = discovery.Watch(ctx, discovery.Config{Seeds: seeds, Wait: 2 * time.Second, RetryMin: 50 * time.Millisecond,
			Registerer: reg, Logger: quiet()}, c.Topology(), func(t replication.Topology) error {
			mu.Lock()
			fewest = min(fewest, len(t.Nodes))
			mu.Unlock()
			return c.SetTopology(t)
		})
	}()
	defer func() { cancel(); <-done }()

	testproc.Eventually(t, 20*time.Second, "the standalone view held back", func() bool {
		return testproc.CounterSum(t, reg, "zonecache_discovery_held_topologies_total", nil) >= 1
	})
	testproc.Eventually(t, 30*time.Second, "the dead entry of the restarted node leaves the client's view", func() bool {
		return !hasNode(c, victim.ID, "") && len(c.Topology().Nodes) == 5
	})
	l.check(t, "while a seed came back standalone")
	mu.Lock()
	defer mu.Unlock()
	if fewest != 5 {
		t.Fatalf("the client's view went down to %d nodes; want 5 at the least", fewest)
	}
	if standalone.Exited() {
		t.Fatalf("the standalone node exited: %s", standalone.Output())
	}
}
