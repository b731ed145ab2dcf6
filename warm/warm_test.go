package warm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

func zoneRing(t *testing.T, top replication.Topology, zone string) *sharding.Ring {
	t.Helper()
	var sn []sharding.Node
	for _, n := range top.ZoneNodes(zone, replication.NodeState.TakesWrites) {
		sn = append(sn, sharding.Node{ID: n.ID, Addr: n.Addr, Weight: n.EffectiveWeight()})
	}
	r, err := sharding.New(sn, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitTopology polls the fleet's admin endpoints until ok accepts the
// topology they serve.
func waitTopology(t *testing.T, seeds []string, ok func(replication.Topology) bool) replication.Topology {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		top, err := discovery.Fetch(ctx, discovery.Config{Seeds: seeds})
		cancel()
		if err == nil && ok(top) {
			return top
		}
		if time.Now().After(deadline) {
			t.Fatalf("topology not reached in 30 s: last %+v %v", top, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestWarmCopiesExactlyTheOwnedKeysWithAdd(t *testing.T) {
	ctx := context.Background()
	f, err := fleet.Start(ctx, fleet.Config{Binary: testproc.ZonecachedBinary(t), Zones: []string{"a", "b"}, Gossip: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)

	// Fill zone b: each key on its owner in b, half with a TTL.
	top := waitTopology(t, f.AdminAddrs(), func(top replication.Topology) bool { return len(top.Nodes) == 4 })
	bRing := zoneRing(t, top, "b")
	bNodes := map[string]*nodeclient.Node{}
	for _, n := range top.ZoneNodes("b", nil) {
		bNodes[n.ID] = nodeclient.NewNode(n.Addr, nodeclient.Config{})
		defer bNodes[n.ID].Close()
	}
	const nkeys = 600
	index := map[string]int{}
	keyOf := func(i int) string {
		k := fmt.Sprintf("warm:%d", i)
		if i%10 == 0 {
			k = fmt.Sprintf("warm/%d?x=%%é", i) // URI-escaped in the dump
		}
		index[k] = i
		return k
	}
	for i := range nkeys {
		k := keyOf(i)
		ttl := int32(0)
		if i%2 == 1 {
			ttl = 3600
		}
		owner := bRing.Node(bRing.IndexString(k)).ID
		if err := bNodes[owner].Online().Set(ctx, nodeclient.Item{Key: k, Value: []byte("v-" + k), Flags: uint32(i), TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}

	// A new node a-3 joins zone a as warming.
	tn, err := f.Add(ctx, "a", "a-3", "--state", "warming")
	if err != nil {
		t.Fatal(err)
	}
	top = waitTopology(t, f.AdminAddrs(), func(top replication.Topology) bool {
		n, ok := top.Node("a-3")
		return ok && n.EffectiveState() == replication.Warming && len(top.ZoneNodes("b", replication.NodeState.ServesReads)) == 2
	})
	aRing := zoneRing(t, top, "a")
	var owned, notOwned []string
	for i := range nkeys {
		if k := keyOf(i); aRing.Node(aRing.IndexString(k)).ID == "a-3" {
			owned = append(owned, k)
		} else {
			notOwned = append(notOwned, k)
		}
	}
	escaped := 0
	for _, k := range owned {
		if strings.Contains(k, "/") {
			escaped++
		}
	}
	if len(owned) == 0 || len(notOwned) == 0 || escaped == 0 {
		t.Fatalf("owned %d (%d escaped), not owned %d: the test needs all", len(owned), escaped, len(notOwned))
	}
	target := nodeclient.NewNode(tn.Addr, nodeclient.Config{})
	defer target.Close()
	// Live traffic wrote a newer value of one owned key before the warm-up.
	live := owned[0]
	if err := target.Online().Set(ctx, nodeclient.Item{Key: live, Value: []byte("newer")}); err != nil {
		t.Fatal(err)
	}

	st, err := Warm(ctx, Config{Topology: top, Target: "a-3", FromZone: "b", Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v (owned %d)", st, len(owned))
	if st.Scanned != nkeys || st.Errors != 0 || st.SkippedExpired != 0 {
		t.Fatalf("stats %v: want %d scanned, no errors, none expired", st, nkeys)
	}
	if st.Copied != int64(len(owned)-1) || st.SkippedPresent != 1 || st.SkippedNotOwned != int64(len(notOwned)) {
		t.Fatalf("stats %v: want copied %d, present 1, not owned %d", st, len(owned)-1, len(notOwned))
	}
	if st.Scanned != st.Copied+st.Skipped()+st.Errors {
		t.Fatalf("stats %v do not add up", st)
	}
	for _, k := range owned {
		it, err := target.Online().Get(ctx, k)
		if err != nil {
			t.Fatalf("owned key %s missing on the target: %v", k, err)
		}
		i := index[k]
		switch {
		case k == live:
			if string(it.Value) != "newer" {
				t.Fatalf("live value of %s overwritten with %q", k, it.Value)
			}
			continue
		case string(it.Value) != "v-"+k || it.Flags != uint32(i):
			t.Fatalf("%s: value %q flags %d", k, it.Value, it.Flags)
		case i%2 == 0 && it.TTL != -1:
			t.Fatalf("%s never expires on the source, TTL %d on the target", k, it.TTL)
		case i%2 == 1 && (it.TTL <= 3500 || it.TTL > 3600):
			t.Fatalf("%s: remaining TTL %d on the target, want about 3600", k, it.TTL)
		}
	}
	for _, k := range notOwned {
		if _, err := target.Online().Get(ctx, k); !errors.Is(err, nodeclient.ErrCacheMiss) {
			t.Fatalf("key %s not owned by a-3 is on it: %v", k, err)
		}
	}

	// A second run copies nothing: add refuses every key already there.
	st2, err := Warm(ctx, Config{Topology: top, Target: "a-3", FromZone: "b", Rate: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if st2.Copied != 0 || st2.SkippedPresent != int64(len(owned)) {
		t.Fatalf("second run %v: want copied 0, present %d", st2, len(owned))
	}
}

func TestPlanRefusesUnusableConfigs(t *testing.T) {
	top := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a-1", Zone: "a", Addr: "127.0.0.1:1"},
		{ID: "a-2", Zone: "a", Addr: "127.0.0.1:2", State: replication.Joining},
		{ID: "b-1", Zone: "b", Addr: "127.0.0.1:3", State: replication.Warming},
	}}
	for _, c := range []Config{
		{Topology: top, Target: "", FromZone: "b"},
		{Topology: top, Target: "zz", FromZone: "b"},
		{Topology: top, Target: "a-1", FromZone: "a"},
		{Topology: top, Target: "a-2", FromZone: "b"}, // joining takes no writes
		{Topology: top, Target: "a-1", FromZone: "b"}, // b serves no reads
		{Topology: top, Target: "a-1", FromZone: "c"},
	} {
		if _, err := Warm(context.Background(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("target %q from %q: err %v, want ErrConfig", c.Target, c.FromZone, err)
		}
	}
}

// fakeDump serves one canned metadump reply per connection.
func fakeDump(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				l, _ := bufio.NewReader(c).ReadString('\n')
				if l != "lru_crawler metadump all\r\n" {
					c.Write([]byte("ERROR\r\n"))
					return
				}
				if reply == "" { // silent server
					time.Sleep(5 * time.Second)
					return
				}
				c.Write([]byte(reply))
			}()
		}
	}()
	return ln.Addr().String()
}

func TestDumpKeysParsesTheDump(t *testing.T) {
	ring := soleZone(t)
	now := time.Unix(1_800_000_000, 0)
	addr := fakeDump(t, "key=a%20b%2Fc exp=-1 la=1 cas=1 fetch=no cls=1 size=60\n"+
		"key=old exp=1799999999 la=1 cas=2 fetch=no cls=1 size=60\n"+
		"key=later exp=1800000100 la=1 cas=3 fetch=yes cls=1 size=60\n"+
		"key=bad%zz exp=-1 la=1 cas=4 fetch=no cls=1 size=60\n"+
		"END\r\n")
	var c counters
	got, err := dumpKeys(context.Background(), addr, time.Second, nil, now, owns(ring, "x"), &c)
	if err != nil {
		t.Fatal(err)
	}
	want := []dumpEntry{{"a b/c", -1}, {"later", 1800000100}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if s := c.stats(); s.Scanned != 4 || s.SkippedExpired != 1 || s.Errors != 1 {
		t.Fatalf("stats %v", s)
	}
	// Nothing is owned by another node id.
	c = counters{}
	if got, _ := dumpKeys(context.Background(), addr, time.Second, nil, now, owns(ring, "y"), &c); len(got) != 0 || c.notOwned.Load() != 2 {
		t.Fatalf("owner y: %v, not owned %d", got, c.notOwned.Load())
	}
}

func TestDumpKeysFailsOnRefusalTruncationAndContext(t *testing.T) {
	ring := soleZone(t)
	var c counters
	if _, err := dumpKeys(context.Background(), fakeDump(t, "BUSY crawler busy\r\n"), time.Second, nil, time.Now(), owns(ring, "x"), &c); err == nil || !strings.Contains(err.Error(), "BUSY") {
		t.Fatalf("refused dump: %v", err)
	}
	got, err := dumpKeys(context.Background(), fakeDump(t, "key=k exp=-1 la=1\n"), time.Second, nil, time.Now(), owns(ring, "x"), &c)
	if err == nil || len(got) != 1 {
		t.Fatalf("truncated dump: %v %v, want the key read and an error", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := dumpKeys(ctx, fakeDump(t, ""), time.Second, nil, time.Now(), owns(ring, "x"), &c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent server: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("silent server held the dump %v", d)
	}
}

func TestWriteTTL(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		remaining int32
		exp       int64
		ttl       int32
		ok        bool
	}{
		{-1, 5, 0, true},
		{60, -1, 60, true},
		{protocol.MaxRelativeExptime + 10, -1, int32(now.Unix()) + protocol.MaxRelativeExptime + 10, true},
		{0, -1, 0, true},
		{0, now.Unix() + 30, 30, true},
		{0, now.Unix(), 0, false},
		{0, now.Unix() + protocol.MaxRelativeExptime + 1, int32(now.Unix()) + protocol.MaxRelativeExptime + 1, true},
	} {
		if ttl, ok := writeTTL(c.remaining, c.exp, now); ttl != c.ttl || ok != c.ok {
			t.Errorf("writeTTL(%d, %d) = %d %v, want %d %v", c.remaining, c.exp, ttl, ok, c.ttl, c.ok)
		}
	}
}

func TestLimiterPaces(t *testing.T) {
	l := newLimiter(100)
	start := time.Now()
	for range 11 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 95*time.Millisecond {
		t.Fatalf("11 items at 100/s took %v, want >= 100 ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := newLimiter(0.001)
	_ = slow.wait(context.Background()) // the first item starts at once
	if err := slow.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

// soleZone is the placement of a zone whose one node, x, owns every key.
func soleZone(t *testing.T) *replication.ZonePlacement {
	t.Helper()
	p, err := replication.NewPlacement(replication.Topology{Nodes: []replication.Node{{ID: "x", Zone: "z", Addr: "127.0.0.1:1"}}}, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Zone("z")
}

// owns selects the keys id owns in zone's write ring.
func owns(zone *replication.ZonePlacement, id string) func(string) bool {
	return func(k string) bool { return isWriteOwner(zone, k, id) }
}
