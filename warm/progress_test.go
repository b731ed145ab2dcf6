package warm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// staticFleet starts stock memcached nodes a-1, a-2 (serving), a-3
// (warming) and b-1, b-2 (serving), and writes n keys to their owner in
// zone b; it returns the topology, the keys a-3 owns and the processes.
func staticFleet(t *testing.T, n int) (replication.Topology, []string, map[string]*testproc.Process) {
	t.Helper()
	top := replication.Topology{Epoch: 1}
	procs := map[string]*testproc.Process{}
	for _, id := range []string{"a-1", "a-2", "a-3", "b-1", "b-2"} {
		procs[id] = testproc.StartMemcached(t)
		nd := replication.Node{ID: id, Zone: id[:1], Addr: procs[id].Addr}
		if id == "a-3" {
			nd.State = replication.Warming
		}
		top.Nodes = append(top.Nodes, nd)
	}
	ctx := context.Background()
	aRing, bRing := zoneRing(t, top, "a"), zoneRing(t, top, "b")
	var owned []string
	for i := range n {
		k := fmt.Sprintf("p:%d", i)
		nc := nodeclient.NewNode(bRing.Node(bRing.IndexString(k)).Addr, nodeclient.Config{})
		err := nc.Online().Set(ctx, nodeclient.Item{Key: k, Value: []byte(strings.Repeat("v", i%50+1))})
		nc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if aRing.Node(aRing.IndexString(k)).ID == "a-3" {
			owned = append(owned, k)
		}
	}
	return top, owned, procs
}

// onTarget counts the keys a-3 holds.
func onTarget(t *testing.T, top replication.Topology, keys []string) (n int64, bytes int64) {
	t.Helper()
	a3, _ := top.Node("a-3")
	nc := nodeclient.NewNode(a3.Addr, nodeclient.Config{})
	defer nc.Close()
	for _, k := range keys {
		if it, err := nc.Online().Get(context.Background(), k); err == nil {
			n++
			bytes += int64(len(it.Value))
		}
	}
	return n, bytes
}

// TestWarmProgressAddsUp warms a-3 of a static memcached fleet with a
// Progress callback, once cancelled partway and once to the end: the last
// call reports Warm's stats, and its sources' copied items and bytes are
// what a-3 holds, with the rest of the owned items left.
func TestWarmProgressAddsUp(t *testing.T) {
	top, owned, _ := staticFleet(t, 800)
	var mu sync.Mutex
	var calls []Progress
	record := func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{Topology: top, Target: "a-3", FromZone: "b", Rate: 400, Concurrency: 4, ProgressEvery: 20 * time.Millisecond,
		Progress: func(p Progress) {
			if record(p); p.Copied >= 40 {
				cancel()
			}
		}}
	st, err := Warm(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled warm: %v %v", st, err)
	}
	last := checkProgress(t, top, owned, calls, st)
	if left := sumSources(last, func(s SourceProgress) int64 { return s.Left }); left == 0 {
		t.Fatalf("cancelled warm left nothing: %+v", last)
	}

	calls = nil
	cfg.Rate, cfg.Progress = 0, record
	st, err = Warm(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	last = checkProgress(t, top, owned, calls, st)
	for _, s := range last.Sources {
		if !s.Dumped || s.Left != 0 {
			t.Fatalf("source %+v after a full warm: want dumped, nothing left", s)
		}
	}
	if owners := sumSources(last, func(s SourceProgress) int64 { return s.Owned }); owners != int64(len(owned)) || st.SkippedPresent == 0 {
		t.Fatalf("sources own %d keys, a-3 owns %d; stats %v (the first run's keys present)", owners, len(owned), st)
	}
}

// checkProgress checks the last of calls against st and what a-3 holds,
// and that copied counts never go down.
func checkProgress(t *testing.T, top replication.Topology, owned []string, calls []Progress, st Stats) Progress {
	t.Helper()
	if len(calls) < 2 {
		t.Fatalf("%d progress calls, want several", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Copied < calls[i-1].Copied || calls[i].Scanned < calls[i-1].Scanned {
			t.Fatalf("progress went back: %v then %v", calls[i-1].Stats, calls[i].Stats)
		}
	}
	last := calls[len(calls)-1]
	copied := sumSources(last, func(s SourceProgress) int64 { return s.Copied })
	bytes := sumSources(last, func(s SourceProgress) int64 { return s.Bytes })
	if last.Stats != st || last.Target != "a-3" || len(last.Sources) != 2 || copied != st.Copied {
		t.Fatalf("last progress %+v, Warm's stats %v", last, st)
	}
	for _, s := range last.Sources {
		if s.Left < 0 || s.Left > s.Owned {
			t.Fatalf("source %+v: left out of range", s)
		}
	}
	if n, b := onTarget(t, top, owned); n < copied || b < bytes {
		t.Fatalf("a-3 holds %d keys (%d bytes), the progress says %d (%d bytes) copied", n, b, copied, bytes)
	}
	return last
}

func sumSources(p Progress, f func(SourceProgress) int64) (n int64) {
	for _, s := range p.Sources {
		n += f(s)
	}
	return n
}

// TestWarmRefusesWhileADeadNodeIsListed kills a-2 of a gossiping fleet
// (kill -9) and warms its replacement a-3 at once, before gossip drops
// a-2: Warm refuses with ErrUnsettled, names a-2 and says what to do, and
// copies nothing (a-3 would own a third of zone a's keys, not half).
func TestWarmRefusesWhileADeadNodeIsListed(t *testing.T) {
	ctx := context.Background()
	// A slow probe: gossip takes seconds to drop a-2.
	f, err := fleet.Start(ctx, fleet.Config{Binary: testproc.ZonecachedBinary(t), Zones: []string{"a", "b"}, Gossip: true,
		Args: []string{"--gossip-probe-interval", "3s"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	b := nodeclient.NewNode(f.Zone("b")[0].Addr, nodeclient.Config{})
	defer b.Close()
	for i := range 100 {
		if err := b.Online().Set(ctx, nodeclient.Item{Key: fmt.Sprint("dead:", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Add(ctx, "a", "a-3", "--state", "warming"); err != nil {
		t.Fatal(err)
	}
	seeds := f.AdminAddrs()
	waitTopology(t, seeds, func(top replication.Topology) bool { return len(top.Nodes) == 5 })
	f.Zone("a")[1].Kill()

	top, err := discovery.Fetch(ctx, discovery.Config{Seeds: seeds})
	if _, listed := top.Node("a-2"); err != nil || !listed {
		t.Fatalf("a-2 no longer listed right after its kill (%v): the test needs it listed", err)
	}
	st, err := Warm(ctx, Config{Topology: top, Target: "a-3", FromZone: "b"})
	if !errors.Is(err, ErrUnsettled) || !strings.Contains(err.Error(), "a-2") || !strings.Contains(err.Error(), "wait until gossip drops it") {
		t.Fatalf("warm with a-2 dead: %v %v, want ErrUnsettled naming a-2 and what to do", st, err)
	}
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprint("dead:", i))
	}
	if n, _ := onTarget(t, top, keys); st != (Stats{}) || n != 0 {
		t.Fatalf("refused warm did something: %v, %d items", st, n)
	}
}

// TestWarmRefusesAHungSourceNode freezes b-2 (SIGSTOP: its socket still
// accepts connections, nothing answers): Warm refuses within DialTimeout,
// naming b-2, and copies nothing.
func TestWarmRefusesAHungSourceNode(t *testing.T) {
	top, owned, procs := staticFleet(t, 200)
	if err := procs["b-2"].Freeze(); err != nil {
		t.Fatal(err)
	}
	defer procs["b-2"].Thaw()
	st, err := Warm(context.Background(), Config{Topology: top, Target: "a-3", FromZone: "b", DialTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrUnsettled) || !strings.Contains(err.Error(), "node b-2") {
		t.Fatalf("warm with b-2 hung: %v %v, want ErrUnsettled naming b-2", st, err)
	}
	if n, _ := onTarget(t, top, owned); st != (Stats{}) || n != 0 {
		t.Fatalf("refused warm did something: %v, %d items", st, n)
	}
}
