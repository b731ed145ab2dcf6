package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
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
	r, stop, terminated := stopUnderLaggingReader(t, w, leaving, keys[0])
	testproc.Eventually(t, 30*time.Second, leaving.ID+" gone from the writer's topology", func() bool { return !hasNode(w, leaving.ID, "") })
	versionedWrite(t, w, keys, 2) // to a-1 and zones b and c, not to the node that left

	// A node that no longer answers would show nothing: readOld fails then.
	old, held := readOld(t, r, []*fleet.Node{leaving}, keys, 2)
	stop()
	if err := <-terminated; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys of %s; after it left: %d old values on it, %d read by the lagging reader", len(keys), leaving.ID, held, old)
	if held+old != 0 {
		t.Fatalf("%s served %d of %d keys after leaving the fleet, and the lagging reader read %d versions older than the last write",
			leaving.ID, held, len(keys), old)
	}
}

// stopUnderLaggingReader returns a client of zone a that keeps w's view
// of now for good, then stops leaving with SIGTERM while reads of key
// keep arriving at it (keepReading); terminated tells when it exited.
func stopUnderLaggingReader(t *testing.T, w *client.Client, leaving *fleet.Node, key string) (r *client.Client, stop func(), terminated <-chan error) {
	t.Helper()
	r, err := client.New(client.Config{Zone: "a", Topology: w.Topology(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	stop = keepReading(leaving.Addr, key)
	done := make(chan error, 1)
	go func() { done <- leaving.Terminate(2 * time.Minute) }()
	return r, stop, done
}

// keepReading reads key from the node at addr every 100 ms, as a lagging
// client does, until the returned stop is called: a node stopped with
// SIGTERM then stays up (its drain waits for a second without reads).
func keepReading(addr, key string) (stop func()) {
	done := make(chan struct{})
	var reading sync.WaitGroup
	reading.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = rawGet(addr, []string{key})
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); reading.Wait() }
}

// TestDrainingNodeHandsItsReadsOverBeforeItLeaves: a node set draining
// (as a reshard sets a leaving node while it copies: writes of its keys
// reach their new owners too) and then stopped with SIGTERM first
// advertises warming, so that clients read the new owners while it still
// takes writes, and only then leaves. Meanwhile a client that follows the
// fleet reads the last write in its own zone (no fallback), and a reader
// whose view still has the node draining reads the last write from it.
func TestDrainingNodeHandsItsReadsOverBeforeItLeaves(t *testing.T) {
	f := startFleet(t, fleet.Config{Binary: testproc.ZonecachedBinary(t), Gossip: true, DrainTimeout: time.Minute})
	reg := prometheus.NewRegistry()
	w := watchingClient(t, f.AdminAddrs(), 6, reg, quiet())
	leaving := f.Zone("a")[1]
	keys := movedTo(t, w, leaving.ID)
	setState(t, leaving, replication.Draining)
	testproc.Eventually(t, 30*time.Second, leaving.ID+" draining in the client's topology", func() bool { return hasNode(w, leaving.ID, replication.Draining) })
	versionedWrite(t, w, keys, 1) // to a-1, their new owner, and to the draining node
	r, stop, terminated := stopUnderLaggingReader(t, w, leaving, keys[0])
	testproc.Eventually(t, 30*time.Second, leaving.ID+" warming in the client's topology", func() bool { return hasNode(w, leaving.ID, replication.Warming) })
	versionedWrite(t, w, keys, 2) // to the warming node and to a-1
	before := fallbackHits(t, reg)
	oldFollowing, _ := readOld(t, w, nil, keys, 2)
	fallbacks := fallbackHits(t, reg) - before
	oldLagging, onNode := readOld(t, r, []*fleet.Node{leaving}, keys, 2)
	stop()
	if err := <-terminated; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys of %s, warming before it left: %d old values read by the client that follows the fleet (%v fallback hits), %d by the lagging reader, %d on the node",
		len(keys), leaving.ID, oldFollowing, fallbacks, oldLagging, onNode)
	if oldFollowing+oldLagging+onNode != 0 || fallbacks != 0 {
		t.Fatalf("while %s was warming: %d and %d reads older than the last write, %d copies on it, %v reads answered by another zone",
			leaving.ID, oldFollowing, oldLagging, onNode, fallbacks)
	}
}
