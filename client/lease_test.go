package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// 100 Gets of one key under one request scope make one network request.
func TestRequestScopeOneNetworkRequest(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	var attempts atomic.Int32
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All // the Set is over when it returns
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) { attempts.Add(1) }
	})
	if _, err := c.Set(testCtx(t), Item{Key: "scoped", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	attempts.Store(0)
	node := c.c.view.Load().byID["a0"].tn
	sentBefore := node.Stats().Sent
	ctx := WithRequestScope(testCtx(t))
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if it, err := c.Get(ctx, "scoped"); err != nil || string(it.Value) != "v" {
				t.Errorf("Get: %q %v", it.Value, err)
			}
		}()
	}
	wg.Wait()
	if sent := node.Stats().Sent - sentBefore; sent != 1 || attempts.Load() != 1 {
		t.Fatalf("100 scoped Gets sent %d requests (%d attempts), want 1", sent, attempts.Load())
	}
	// A new scope asks again.
	if _, err := c.Get(WithRequestScope(testCtx(t)), "scoped"); err != nil || attempts.Load() != 2 {
		t.Fatalf("a new scope: %v, %d attempts", err, attempts.Load())
	}
}

func TestHerdOneProcessLoadsOnceZonecached(t *testing.T) { testHerdOneProcess(t, "zonecached") }
func TestHerdOneProcessLoadsOnceMemcached(t *testing.T)  { testHerdOneProcess(t, "memcached") }

// 1,000 goroutines calling GetOrLoad on one missing key run the loader
// once, and all get its value.
func testHerdOneProcess(t *testing.T, server string) {
	f := startFleet(t, server, []string{"a", "b", "c"}, 2)
	c := newTestClient(t, f.topo, "a", nil)
	if loads, bad := herd(t, c, "herd", 1000); loads != 1 || bad != 0 {
		t.Fatalf("loader ran %d times (want 1); %d callers did not get the value", loads, bad)
	}
	// The value reaches every zone (the loader's Set returned once the
	// write policy was met; the last replica may still be in flight).
	for _, z := range []string{"a", "b", "c"} {
		n := direct(t, replicaOf(c, z, "herd").node.Addr)
		eventually(t, "zone "+z+" holds the loaded value", func() bool {
			it, err := n.Get(testCtx(t), "herd")
			return err == nil && string(it.Value) == "origin"
		})
	}
}

// Against nodes without meta commands (memcached before 1.6, played by
// zonecached --disable-meta) the client reads and writes in the text
// protocol, and GetOrLoad degrades to per-process singleflight: 1,000
// goroutines still run the loader once, every caller gets the value, and
// the degradation is counted.
func TestGetOrLoadDegradesOnNodesWithoutMeta(t *testing.T) {
	f := startFleet(t, "zonecached-text", []string{"a", "b"}, 1)
	reg := prometheus.NewRegistry()
	c := newTestClient(t, f.topo, "a", func(c *Config) { c.Registerer = reg })
	if _, err := direct(t, f.proc("a0").Addr).Get(testCtx(t), "x"); !errors.Is(err, nodeclient.ErrCacheMiss) {
		t.Fatalf("text-only node: Get of a missing key: %v", err)
	}
	if loads, bad := herd(t, c, "herd-text", 1000); loads != 1 || bad != 0 {
		t.Fatalf("loader ran %d times (want 1); %d callers without the value", loads, bad)
	}
	if n := testutil.ToFloat64(c.c.metrics.leases.WithLabelValues("unsupported")); n < 1 {
		t.Fatalf(`leases_total{result="unsupported"} = %v, want >= 1`, n)
	}
	if n := testutil.ToFloat64(c.c.metrics.leases.WithLabelValues("won")); n != 0 {
		t.Fatalf(`leases_total{result="won"} = %v on nodes without leases`, n)
	}
	// The loaded value was written to both zones in the text protocol.
	for _, id := range []string{"a0", "b0"} {
		n := direct(t, f.proc(id).Addr)
		eventually(t, id+" holds the loaded value", func() bool {
			it, err := n.Get(testCtx(t), "herd-text")
			return err == nil && string(it.Value) == "origin"
		})
	}
	// A later herd reads the cached value without loading.
	if loads, bad := herd(t, c, "herd-text", 10); loads != 0 || bad != 0 {
		t.Fatalf("second herd: %d loads, %d callers without the value", loads, bad)
	}
}

// herd runs n goroutines calling GetOrLoad on key with a loader returning
// "origin"; it returns how many times the loader ran and how many callers
// did not get "origin".
func herd(t *testing.T, c *Client, key string, n int) (loads, bad int32) {
	var nLoads, nBad atomic.Int32
	loader := func(ctx context.Context) ([]byte, error) {
		nLoads.Add(1)
		return []byte("origin"), nil
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it, err := c.GetOrLoad(testCtx(t), key, time.Minute, loader)
			if err != nil || string(it.Value) != "origin" {
				nBad.Add(1)
			}
		}()
	}
	wg.Wait()
	return nLoads.Load(), nBad.Load()
}

const herdEnv = "ZONECACHE_HERD_TOPOLOGY"

func TestHerdFourProcessesLoadOnceZonecached(t *testing.T) { testHerdFourProcesses(t, "zonecached") }
func TestHerdFourProcessesLoadOnceMemcached(t *testing.T)  { testHerdFourProcesses(t, "memcached") }

// 4 client processes × 250 goroutines with leases run the loader once in
// total. The processes are this test binary re-executed, in zones a, b, c
// and a: leases are taken in one zone for the whole fleet.
func testHerdFourProcesses(t *testing.T, server string) {
	f := startFleet(t, server, []string{"a", "b", "c"}, 2)
	topo, err := json.Marshal(f.topo)
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("fleet-herd-%d", time.Now().UnixNano())
	type child struct {
		cmd   *exec.Cmd
		in    *os.File
		lines *bufio.Scanner
	}
	var children []child
	for _, zone := range []string{"a", "b", "c", "a"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHerdProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), herdEnv+"="+string(topo), "ZONECACHE_HERD_KEY="+key, "ZONECACHE_HERD_ZONE="+zone)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = pr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pr.Close()
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		children = append(children, child{cmd, pw, bufio.NewScanner(out)})
	}
	// Barrier: every child has its 250 goroutines ready before any starts.
	for i, ch := range children {
		if !waitLine(ch.lines, "READY") {
			t.Fatalf("child %d did not get ready", i)
		}
	}
	for _, ch := range children {
		fmt.Fprintln(ch.in, "GO")
		ch.in.Close()
	}
	total := 0
	for i, ch := range children {
		var loads int
		for ch.lines.Scan() {
			if v, ok := strings.CutPrefix(ch.lines.Text(), "LEASES "); ok {
				t.Logf("process %d: leases %s", i, v)
			}
			if v, ok := strings.CutPrefix(ch.lines.Text(), "LOADS="); ok {
				loads, _ = strconv.Atoi(v)
				break
			}
		}
		if err := ch.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		total += loads
	}
	if total != 1 {
		t.Fatalf("the loader ran %d times across 4 processes, want 1", total)
	}
}

func waitLine(s *bufio.Scanner, want string) bool {
	for s.Scan() {
		if s.Text() == want {
			return true
		}
	}
	return false
}

// TestHelperHerdProcess is one client process of TestHerdFourProcessesLoadOnce*;
// it does nothing unless started by it.
func TestHelperHerdProcess(t *testing.T) {
	spec := os.Getenv(herdEnv)
	if spec == "" {
		t.Skip("helper process for TestHerdFourProcessesLoadOnce*")
	}
	var topo replication.Topology
	if err := json.Unmarshal([]byte(spec), &topo); err != nil {
		t.Fatal(err)
	}
	key := os.Getenv("ZONECACHE_HERD_KEY")
	c := newTestClient(t, topo, os.Getenv("ZONECACHE_HERD_ZONE"), func(c *Config) { c.LeaseWait = 20 * time.Second })
	var loads atomic.Int32
	var wg, ready sync.WaitGroup
	start := make(chan struct{})
	var failed atomic.Int32
	for i := 0; i < 250; i++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			it, err := c.GetOrLoad(context.Background(), key, time.Minute, func(context.Context) ([]byte, error) {
				loads.Add(1)
				return []byte("loaded"), nil
			})
			if err != nil || string(it.Value) != "loaded" {
				failed.Add(1)
			}
		}()
	}
	ready.Wait()
	fmt.Println("READY")
	if line, _ := bufio.NewReader(os.Stdin).ReadString('\n'); strings.TrimSpace(line) != "GO" {
		t.Fatalf("no GO from the parent: %q", line)
	}
	close(start)
	wg.Wait()
	leases := func(r string) int { return int(testutil.ToFloat64(c.c.metrics.leases.WithLabelValues(r))) }
	fmt.Printf("LEASES won=%d waited=%d hit=%d\n", leases("won"), leases("waited"), leases("hit"))
	fmt.Printf("LOADS=%d\n", loads.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d GetOrLoad calls failed", failed.Load())
	}
}

// The default lease zone is the first zone by name with a node serving
// reads, whatever the client's own zone; Config.LeaseZone overrides it.
func TestDefaultLeaseZone(t *testing.T) {
	topo := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a0", Zone: "a", Addr: "127.0.0.1:1", State: replication.Warming},
		{ID: "b0", Zone: "b", Addr: "127.0.0.2:1"},
		{ID: "c0", Zone: "c", Addr: "127.0.0.3:1"},
	}}
	for _, zone := range []string{"a", "b", "c"} {
		if got := newTestClient(t, topo, zone, nil).c.view.Load().leaseZone; got != "b" {
			t.Fatalf("client of zone %s takes leases in zone %q, want b (a only warms)", zone, got)
		}
	}
	if got := newTestClient(t, topo, "b", func(c *Config) { c.LeaseZone = "c" }).c.view.Load().leaseZone; got != "c" {
		t.Fatalf("LeaseZone c: leases in zone %q", got)
	}
}

// A client outside the lease zone answers GetOrLoad from its local replica
// when it has the key; a key only the lease zone has is returned from
// there without loading and copied to the local zone.
func TestGetOrLoadOutsideLeaseZone(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "b", nil)
	a0, b0 := direct(t, f.proc("a0").Addr), direct(t, f.proc("b0").Addr)
	for _, w := range []struct {
		p        *nodeclient.Pool
		key, val string
	}{{a0, "both", "A"}, {b0, "both", "B"}, {a0, "only-a", "A"}} {
		if err := w.p.Set(ctx, nodeclient.Item{Key: w.key, Value: []byte(w.val), TTL: 600}); err != nil {
			t.Fatal(err)
		}
	}
	noLoad := func(context.Context) ([]byte, error) { return nil, errors.New("loader called") }
	if it, err := c.GetOrLoad(ctx, "both", time.Minute, noLoad); err != nil || string(it.Value) != "B" {
		t.Fatalf("GetOrLoad of a key in both zones: %q %v, want the local B", it.Value, err)
	}
	if it, err := c.GetOrLoad(ctx, "only-a", time.Minute, noLoad); err != nil || string(it.Value) != "A" {
		t.Fatalf("GetOrLoad of a key only the lease zone has: %q %v", it.Value, err)
	}
	eventually(t, "only-a copied to zone b", func() bool {
		it, err := b0.Get(ctx, "only-a")
		return err == nil && string(it.Value) == "A" && it.TTL > 0 && it.TTL <= 600
	})
}

// When the lease zone is down, GetOrLoad of a client in another zone
// degrades to per-process singleflight: it loads once, returns the value,
// stores it in the zones that answer and counts the degradation; a
// later GetOrLoad reads the local copy without asking the lease zone.
func TestGetOrLoadLeaseZoneDown(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	c := newTestClient(t, f.topo, "b", nil)
	f.proc("a0").Kill()
	if loads, bad := herd(t, c, "lz-down", 100); loads != 1 || bad != 0 {
		t.Fatalf("loader ran %d times (want 1); %d callers without the value", loads, bad)
	}
	if n := testutil.ToFloat64(c.c.metrics.leases.WithLabelValues("error")); n < 1 {
		t.Fatalf(`leases_total{result="error"} = %v, want >= 1`, n)
	}
	if it, err := direct(t, f.proc("b0").Addr).Get(testCtx(t), "lz-down"); err != nil || string(it.Value) != "origin" {
		t.Fatalf("zone b: %q %v", it.Value, err)
	}
	errsBefore := testutil.ToFloat64(c.c.metrics.leases.WithLabelValues("error"))
	if loads, bad := herd(t, c, "lz-down", 10); loads != 0 || bad != 0 {
		t.Fatalf("second herd: %d loads, %d callers without the value", loads, bad)
	}
	if n := testutil.ToFloat64(c.c.metrics.leases.WithLabelValues("error")); n != errsBefore {
		t.Fatalf("a local hit asked the dead lease zone: errors %v -> %v", errsBefore, n)
	}
}

func TestGetOrLoadErrorsAndStaleZonecached(t *testing.T) {
	testGetOrLoadErrorsAndStale(t, "zonecached")
}
func TestGetOrLoadErrorsAndStaleMemcached(t *testing.T) { testGetOrLoadErrorsAndStale(t, "memcached") }

// A loader error releases the lease at once (the next caller loads without
// waiting), a panic too; a stale value (X) is served while one caller
// refreshes it.
func testGetOrLoadErrorsAndStale(t *testing.T, server string) {
	f := startFleet(t, server, []string{"a", "b"}, 1)
	c := newTestClient(t, f.topo, "a", func(c *Config) { c.LeaseWait = time.Minute })
	ctx := testCtx(t)
	boom := errors.New("origin down")
	if _, err := c.GetOrLoad(ctx, "k", time.Minute, func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("loader error surfaced as %v", err)
	}
	// Were the lease kept, this caller would wait LeaseWait (a minute) and
	// the test deadline would end it first.
	it, err := c.GetOrLoad(ctx, "k", time.Minute, func(context.Context) ([]byte, error) { return []byte("v1"), nil })
	if err != nil || string(it.Value) != "v1" {
		t.Fatalf("after a failed load: %q %v", it.Value, err)
	}
	if _, err := c.GetOrLoad(ctx, "p", time.Minute, func(context.Context) ([]byte, error) { panic("bad loader") }); !errors.Is(err, ErrLoaderPanicked) {
		t.Fatalf("panic surfaced as %v", err)
	}
	if it, err := c.GetOrLoad(ctx, "p", time.Minute, func(context.Context) ([]byte, error) { return []byte("ok"), nil }); err != nil || string(it.Value) != "ok" {
		t.Fatalf("after a panicking load: %q %v", it.Value, err)
	}
	// Mark k stale on the lease replica: the next caller gets the stale
	// value and refreshes it in the background.
	if err := direct(t, replicaOf(c, "a", "k").node.Addr).Invalidate(ctx, "k", 0); err != nil {
		t.Fatal(err)
	}
	refreshed := make(chan struct{})
	it, err = c.GetOrLoad(ctx, "k", time.Minute, func(context.Context) ([]byte, error) {
		defer close(refreshed)
		return []byte("v2"), nil
	})
	if err != nil || string(it.Value) != "v1" {
		t.Fatalf("stale read: %q %v, want the stale v1", it.Value, err)
	}
	<-refreshed
	eventually(t, "refreshed value", func() bool {
		it, err := c.Get(context.Background(), "k")
		return err == nil && string(it.Value) == "v2"
	})
	if n := testutil.ToFloat64(c.c.metrics.leases.WithLabelValues("stale")); n != 1 {
		t.Fatalf("stale leases %v", n)
	}
}

// A value GetOrLoad loaded has no CAS token (nothing was read; in a
// tier-down nothing is stored either): CompareAndSwap refuses it and
// writes nothing, and the value read again carries a token that works.
// A near-cache entry of a loaded value is read afresh after its TTL, not
// revalidated, so another process's write is still seen within the TTL.
func TestLoadedValueHasNoCASZonecached(t *testing.T) { testLoadedValueHasNoCAS(t, "zonecached") }
func TestLoadedValueHasNoCASMemcached(t *testing.T)  { testLoadedValueHasNoCAS(t, "memcached") }

func testLoadedValueHasNoCAS(t *testing.T, server string) {
	f := startFleet(t, server, []string{"a", "b"}, 1)
	c := newTestClient(t, f.topo, "a", nearOn(50*time.Millisecond))
	other := newTestClient(t, f.topo, "b", allPolicy)
	ctx := testCtx(t)
	load := func(context.Context) ([]byte, error) { return []byte("loaded"), nil }
	it, err := c.GetOrLoad(ctx, "k", time.Minute, load)
	if err != nil || string(it.Value) != "loaded" || it.CAS != 0 {
		t.Fatalf("GetOrLoad: %q CAS %d, %v; want the loaded value without a CAS", it.Value, it.CAS, err)
	}
	it.Value = []byte("swapped")
	if _, err := c.CompareAndSwap(ctx, it); err == nil {
		t.Fatal("CompareAndSwap of a loaded value without a CAS succeeded")
	}
	if got, err := other.Get(ctx, "k"); err != nil || string(got.Value) != "loaded" {
		t.Fatalf("after the refused CompareAndSwap: %q, %v; want loaded", got.Value, err)
	}
	if _, err := other.Set(ctx, Item{Key: "k", Value: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	revalidated := nearCount(c, nearRevalidated)
	eventually(t, "another process's write seen past the near TTL", func() bool {
		got, err := c.GetOrLoad(ctx, "k", time.Minute, load)
		return err == nil && string(got.Value) == "other"
	})
	if n := nearCount(c, nearRevalidated); n != revalidated {
		t.Fatalf("a loaded entry was revalidated (%v times) without a CAS", n-revalidated)
	}
	read, err := c.Get(ctx, "k")
	if err != nil || read.CAS == 0 {
		t.Fatalf("Get: CAS %d, %v; want a token", read.CAS, err)
	}
	read.Value = []byte("swapped")
	if _, err := c.CompareAndSwap(ctx, read); err != nil {
		t.Fatalf("CompareAndSwap of a value read: %v", err)
	}
	if got, err := other.Get(ctx, "k"); err != nil || string(got.Value) != "swapped" {
		t.Fatalf("after CompareAndSwap: %q, %v; want swapped", got.Value, err)
	}
}
