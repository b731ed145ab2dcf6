package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
)

// TestLeavingNodeServesNoHitsToLaggingReaders: a node stopped with
// SIGTERM advertises draining, leaves the fleet, then serves until reads
// stop arriving. Once it has left, clients that dropped it send it no
// more writes, while a client whose view still lists it reads it: it must
// answer misses, not the values it held. Here the writer follows the
// fleet and the reader keeps the view from before the leave (the reshard
// demo's reader in zone c fell back to d-1 this way while zone d was
// removed).
func TestLeavingNodeServesNoHitsToLaggingReaders(t *testing.T) {
	f := startFleet(t, fleet.Config{Binary: testproc.ZonecachedBinary(t), Gossip: true, DrainTimeout: time.Minute})
	w := discoveredClient(t, f, 6)
	leaving := f.Zone("a")[1]
	keys := movedTo(t, w, leaving.ID) // the keys it serves in zone a
	versionedWrite(t, w, keys, 1)
	r, err := client.New(client.Config{Zone: "a", Topology: w.Topology(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	// Reads keep arriving at the leaving node, as a lagging client's do,
	// so that it stays up (its drain waits for a second without reads).
	stop := make(chan struct{})
	var reading sync.WaitGroup
	reading.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = rawGet(leaving.Addr, keys[:1])
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	terminated := make(chan error, 1)
	go func() { terminated <- leaving.Terminate(2 * time.Minute) }()
	testproc.Eventually(t, 30*time.Second, leaving.ID+" gone from the writer's topology", func() bool { return !hasNode(w, leaving.ID, "") })
	versionedWrite(t, w, keys, 2) // to a-1 and zones b and c, not to the node that left

	// A node that no longer answers would show nothing: readOld fails then.
	old, held := readOld(t, r, []*fleet.Node{leaving}, keys, 2)
	close(stop)
	reading.Wait()
	if err := <-terminated; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys of %s; after it left: %d old values on it, %d read by the lagging reader", len(keys), leaving.ID, held, old)
	if held+old != 0 {
		t.Fatalf("%s served %d of %d keys after leaving the fleet, and the lagging reader read %d versions older than the last write",
			leaving.ID, held, len(keys), old)
	}
}
