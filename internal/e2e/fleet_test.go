package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// gossipFleet starts 3 zones x 2 gossiping nodes, with extra arguments
// for every node.
func gossipFleet(t *testing.T, args ...string) *fleet.Fleet {
	t.Helper()
	return startFleet(t, fleet.Config{Binary: testproc.ZonecachedBinary(t), Gossip: true, Args: args})
}

// startFleet starts a fleet that is stopped when the test ends.
func startFleet(t *testing.T, cfg fleet.Config) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f
}

// discoveredClient builds a client in zone a that fetches the topology from
// the fleet's seeds and follows it until the test ends.
func discoveredClient(t *testing.T, f *fleet.Fleet, wantNodes int) *client.Client {
	t.Helper()
	return watchingClient(t, f.AdminAddrs(), wantNodes, nil, quiet())
}

// discoveredClients builds n clients in zone a like discoveredClient, each
// asking a different seed first (client i starts at seed i·len/n) and
// each with its own metrics registry.
func discoveredClients(t *testing.T, f *fleet.Fleet, wantNodes, n int) ([]*client.Client, []*prometheus.Registry) {
	t.Helper()
	seeds := f.AdminAddrs()
	cs := make([]*client.Client, n)
	regs := make([]*prometheus.Registry, n)
	for i := range cs {
		k := i * len(seeds) / n
		regs[i] = prometheus.NewRegistry()
		cs[i] = watchingClient(t, append(append([]string(nil), seeds[k:]...), seeds[:k]...), wantNodes, regs[i], quiet())
	}
	return cs, regs
}

// watchingClient builds a client in zone a that fetches the topology from
// seeds once they list wantNodes nodes, and follows it with discovery.Watch
// (as the README shows) until the test ends. reg, if not nil, receives the
// client's metrics.
func watchingClient(t *testing.T, seeds []string, wantNodes int, reg prometheus.Registerer, log *slog.Logger) *client.Client {
	t.Helper()
	return watchingClientWith(t, seeds, wantNodes, client.Config{Registerer: reg, Logger: log})
}

// watchingClientWith is watchingClient with cfg's settings (Zone and
// Topology are set here).
func watchingClientWith(t *testing.T, seeds []string, wantNodes int, ccfg client.Config) *client.Client {
	t.Helper()
	log := ccfg.Logger
	cfg := discovery.Config{Seeds: seeds, Wait: 2 * time.Second, RetryMin: 50 * time.Millisecond, Logger: log}
	var top replication.Topology
	testproc.Eventually(t, 20*time.Second, "the fleet has gossiped to full size", func() bool {
		var err error
		top, err = discovery.Fetch(context.Background(), cfg)
		return err == nil && len(top.Nodes) == wantNodes
	})
	ccfg.Zone, ccfg.Topology, ccfg.Logger = "a", top, quiet()
	c, err := client.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = discovery.Watch(ctx, cfg, top, c.SetTopology)
	}()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	return c
}

// fallbackHits is the client's zonecache_client_requests_total for reads
// answered by a zone other than the first asked, summed over ops and zones.
func fallbackHits(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	return testproc.CounterSum(t, reg, "zonecache_client_requests_total", map[string]string{"result": "fallback_hit"})
}

func hasNode(c *client.Client, id string, state replication.NodeState) bool {
	for _, n := range c.Topology().Nodes {
		if n.ID == id && (state == "" || n.EffectiveState() == state) {
			return true
		}
	}
	return false
}

// load reads and writes keys through c from several goroutines until stop
// is called; it counts the errors callers saw (a miss is not an error).
type load struct {
	errs, ops atomic.Int64
	first     atomic.Value
	stop      func()
}

func startLoad(t *testing.T, c *client.Client, keys int) *load {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < keys; i++ {
		if _, err := c.Set(ctx, client.Item{Key: key(i), Value: []byte("v" + key(i))}); err != nil {
			t.Fatalf("prefill: %v", err)
		}
	}
	l := &load{}
	stopCh := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stopCh:
					return
				default:
				}
				k := key(i % keys)
				var err error
				if i%10 == 0 {
					_, err = c.Set(ctx, client.Item{Key: k, Value: []byte("v" + k)})
				} else if _, err = c.Get(ctx, k); errors.Is(err, client.ErrCacheMiss) {
					err = nil
				}
				l.ops.Add(1)
				if err != nil {
					l.errs.Add(1)
					l.first.CompareAndSwap(nil, err.Error())
				}
			}
		}(w)
	}
	l.stop = func() { close(stopCh); wg.Wait() }
	return l
}

func key(i int) string { return "e2e:" + strconv.Itoa(i) }

func (l *load) check(t *testing.T, what string) {
	t.Helper()
	l.stop()
	if l.ops.Load() == 0 {
		t.Fatalf("%s: the load made no requests", what)
	}
	if n := l.errs.Load(); n != 0 {
		t.Fatalf("%s: callers saw %d errors in %d operations; first: %v", what, n, l.ops.Load(), l.first.Load())
	}
	t.Logf("%s: %d operations, 0 errors", what, l.ops.Load())
}

func TestDrainedNodeLeavesWithoutCallerErrors(t *testing.T) {
	f := gossipFleet(t)
	c := discoveredClient(t, f, 6)
	l := startLoad(t, c, 200)
	victim := f.Zone("a")[0] // in the client's own zone
	start := time.Now()
	if err := victim.Terminate(30 * time.Second); err != nil {
		t.Fatalf("drained node did not exit cleanly: %v", err)
	}
	t.Logf("node drained and exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	testproc.Eventually(t, 30*time.Second, "the drained node leaves the client's topology", func() bool { return !hasNode(c, victim.ID, "") })
	l.check(t, "while a node of the local zone drained")
}

// reads returns how many read commands a node has served, from its
// Prometheus metrics.
func reads(t *testing.T, adminAddr string) int {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, cmd := range []string{"get", "gets", "gat", "gats", "mg"} {
			prefix := fmt.Sprintf(`zonecache_server_commands_total{command="%s"} `, cmd)
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				v, _ := strconv.ParseFloat(rest, 64)
				total += int(v)
			}
		}
	}
	return total
}

func items(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "stats\r\n")
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "STAT curr_items "); ok {
			n, _ := strconv.Atoi(rest)
			return n
		}
		if sc.Text() == "END" {
			break
		}
	}
	t.Fatalf("no curr_items from %s", addr)
	return 0
}

func TestWarmingNodeTakesWritesServesNoReadsUntilPromoted(t *testing.T) {
	f := gossipFleet(t)
	c := discoveredClient(t, f, 6)
	warm, err := f.Add(context.Background(), "a", "a-3", "--state", "warming")
	if err != nil {
		t.Fatal(err)
	}
	testproc.Eventually(t, 30*time.Second, "the warming node in the client's topology", func() bool {
		return hasNode(c, "a-3", replication.Warming)
	})
	ctx := context.Background()
	const keys = 300
	for i := 0; i < keys; i++ {
		if _, err := c.Set(ctx, client.Item{Key: key(i), Value: []byte("w")}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < keys; i++ {
		if _, err := c.Get(ctx, key(i)); err != nil {
			t.Fatalf("get %s: %v", key(i), err)
		}
	}
	if n := items(t, warm.Addr); n == 0 {
		t.Fatal("the warming node received no writes")
	}
	if n := reads(t, warm.AdminAddr); n != 0 {
		t.Fatalf("the warming node served %d reads", n)
	}

	if _, err := warm.Admin().SetState(context.Background(), replication.Serving); err != nil {
		t.Fatalf("promote: %v", err)
	}
	testproc.Eventually(t, 30*time.Second, "the promoted node serving in the client's topology", func() bool {
		return hasNode(c, "a-3", replication.Serving)
	})
	for i := 0; i < keys; i++ {
		if _, err := c.Get(ctx, key(i)); err != nil {
			t.Fatalf("get %s after promotion: %v", key(i), err)
		}
	}
	if n := reads(t, warm.AdminAddr); n == 0 {
		t.Fatal("the promoted node serves no reads")
	}
}
