package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/membership"
)

// remergeProbe and remergeRejoin are the partition test's gossip timings:
// the local profile with 200 ms probes (dead-node window 3 s) and a 1 s
// rejoin interval.
const (
	remergeProbe  = 200 * time.Millisecond
	remergeRejoin = time.Second
)

// remergeBound is the bound the test holds the re-merge to: one rejoin
// interval, one TCP timeout of the local profile (1 s) for a round that
// began before the heal, and gossip to spread the news (a few push-pull
// intervals of 2 s), with room for a loaded machine.
const remergeBound = 15 * time.Second

// startNSNode runs a zonecached node named n in zone n inside its
// namespace (cache, admin and gossip on the namespace's address), joining
// seed when given.
func startNSNode(t *testing.T, l *gossipLab, i int, n, seed string) *exec.Cmd {
	t.Helper()
	addr := l.addr(i)
	args := []string{"-l", addr, "-p", "11211", "-m", "16", "--admin-addr", addr + ":12211",
		"--zone", n, "--node-name", n, "--gossip-addr", addr + ":7946", "--state", "serving",
		"--gossip-profile", "local", "--gossip-probe-interval", remergeProbe.String(),
		"--rejoin-interval", remergeRejoin.String(), "--gossip-insecure"}
	if seed != "" {
		args = append(args, "--join", seed)
	}
	cmd := l.command(n, testproc.ZonecachedBinary(t), args...)
	if testing.Verbose() {
		cmd.Stderr = testWriter{t, n}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// testWriter logs a node's warnings and errors through t.
type testWriter struct {
	t *testing.T
	n string
}

func (w testWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if strings.Contains(line, "rejoined") || strings.Contains(line, "invalidated") || strings.Contains(line, "contact with most") {
			w.t.Logf("%s: %s", w.n, line)
		}
	}
	return len(p), nil
}

// nsTopology is node n's /topology, its node ids sorted and joined, or
// the error.
func nsTopology(hc *http.Client, addr string) string {
	node := admin.Client{Addr: addr + ":12211", HTTPClient: hc}
	top, err := node.Topology(context.Background())
	if err != nil {
		return err.Error()
	}
	ids := make([]string, len(top.Nodes))
	for i, n := range top.Nodes {
		ids[i] = n.ID
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// nsMetric reads one sample of node n's /metrics by its exact line prefix.
func nsMetric(hc *http.Client, addr, prefix string) string {
	resp, err := hc.Get("http://" + addr + ":12211/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix+" "); ok {
			return v
		}
	}
	return "missing"
}

// A gossiping fleet in three network namespaces, one node each. Zone c is
// cut off silently (its link down) until both sides have dropped each
// other and memberlist's dead-node window has passed, so that they no
// longer know each other; then the link comes back. Both sides' /topology
// must list all three nodes again within remergeBound, by the rejoin loop
// alone. Meanwhile the cut-off node, in contact with one of three, fences
// its cache (misses, refuses writes) and flushes it when it is back, so it
// never serves the value it held before the cut. Then a short cut, healed
// as soon as the fleet has dropped c: c learns it was declared dead,
// refutes and invalidates its store (cause "refuted").
func TestPartitionedFleetMergesAgainAndTheCutNodeServesNothingOld(t *testing.T) {
	zones := []string{"a", "b", "c"}
	l := newGossipLab(t, zones...)
	seed := l.addr(0) + ":7946"
	hc := map[string]*http.Client{}
	for _, z := range zones {
		hc[z] = l.httpClient(z)
	}
	for i, z := range zones {
		s := seed
		if i == 0 {
			s = ""
		}
		startNSNode(t, l, i, z, s)
		testproc.Eventually(t, 30*time.Second, z+" is up", func() bool {
			return strings.Contains(nsTopology(hc[z], l.addr(i)), z)
		})
	}
	last := map[string]string{}
	lists := func(z, want string) func() bool {
		return func() bool {
			last[z] = nsTopology(hc[z], l.addr(indexOf(zones, z)))
			return last[z] == want
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("last /topology answers: %v", last)
		}
	}()
	for _, z := range zones {
		testproc.Eventually(t, 30*time.Second, z+" lists a,b,c", lists(z, "a,b,c"))
	}

	cAddr := l.addr(2) + ":11211"
	mc := func(cmds, end string) string {
		out, err := l.memcache("c", cAddr, cmds, end)
		if err != nil {
			return out + err.Error()
		}
		return out
	}
	testproc.Eventually(t, 20*time.Second, "c stores k", func() bool { return mc("set k 0 0 3\r\nold\r\n", "\r\n") == "STORED\r\n" })

	window, err := membership.DeadNodeWindow(membership.Config{Profile: "local", ProbeInterval: remergeProbe})
	if err != nil {
		t.Fatal(err)
	}
	l.setLink("c", false)
	cut := time.Now()
	healed := false
	defer func() {
		if !healed {
			l.setLink("c", true)
		}
	}()
	testproc.Eventually(t, 60*time.Second, "a and b drop c, c drops a and b", func() bool {
		return lists("a", "a,b")() && lists("b", "a,b")() && lists("c", "c")()
	})
	testproc.Eventually(t, 20*time.Second, "c fences its cache", func() bool {
		return nsMetric(hc["c"], l.addr(2), "zonecache_server_isolated") == "1"
	})
	if got := mc("get k\r\nset k 0 0 3\r\nmid\r\n", "fleet\r\n"); got != "END\r\nSERVER_ERROR node cut off from its fleet\r\n" {
		t.Errorf("c while cut off: %q, want a miss and a refused write", got)
	}
	// The fault's duration, not a synchronisation: the split must outlast
	// the dead-node window, after which neither side remembers the other
	// in memberlist.
	hold := window + 2*time.Second
	t.Logf("both sides dropped each other %v after the cut; holding the cut %v more (dead-node window %v)",
		time.Since(cut).Round(time.Millisecond), hold, window)
	time.Sleep(hold)
	if !lists("a", "a,b")() || !lists("c", "c")() {
		t.Fatal("the sides merged while cut")
	}

	l.setLink("c", true)
	healed = true
	heal := time.Now()
	for _, z := range zones {
		testproc.Eventually(t, remergeBound, fmt.Sprintf("%s lists a,b,c within %v of the heal", z, remergeBound), lists(z, "a,b,c"))
	}
	t.Logf("merged %v after the heal (bound %v; cut lasted %v)", time.Since(heal).Round(time.Millisecond), remergeBound, heal.Sub(cut).Round(time.Millisecond))
	testproc.Eventually(t, 20*time.Second, "c opens its cache after flushing it", func() bool {
		return nsMetric(hc["c"], l.addr(2), "zonecache_server_isolated") == "0" &&
			nsMetric(hc["c"], l.addr(2), `zonecache_server_invalidations_total{cause="isolation"}`) != "0"
	})
	if got := mc("get k\r\n", "END\r\n"); got != "END\r\n" {
		t.Errorf("c after the heal serves %q, want a miss: it held k from before the cut", got)
	}

	// A short cut: the fleet declares c dead and c hears of it once the
	// link is back, within the dead-node window; it refutes and
	// invalidates its store. When the verdict reaches c by a push-pull
	// merge instead of the dead broadcast, memberlist turns it into a
	// suspicion (a refuted suspicion is no invalidation); c's own
	// isolation fence, which closes before the fleet can drop it, has then
	// flushed the store, and that must be seen instead.
	testproc.Eventually(t, 20*time.Second, "c stores k", func() bool { return mc("set k 0 0 3\r\nold\r\n", "\r\n") == "STORED\r\n" })
	isolationsBefore := nsMetric(hc["c"], l.addr(2), `zonecache_server_invalidations_total{cause="isolation"}`)
	l.setLink("c", false)
	healed = false
	testproc.Eventually(t, 60*time.Second, "a and b drop c again", func() bool { return lists("a", "a,b")() && lists("b", "a,b")() })
	l.setLink("c", true)
	healed = true
	for _, z := range zones {
		testproc.Eventually(t, remergeBound, z+" lists a,b,c again", lists(z, "a,b,c"))
	}
	testproc.Eventually(t, 20*time.Second, "c counts a refuted death, or an isolation during the short cut", func() bool {
		return nsMetric(hc["c"], l.addr(2), `zonecache_server_invalidations_total{cause="refuted"}`) != "0" ||
			nsMetric(hc["c"], l.addr(2), `zonecache_server_invalidations_total{cause="isolation"}`) != isolationsBefore
	})
	if got := mc("get k\r\n", "END\r\n"); got != "END\r\n" {
		t.Errorf("c after a short cut serves %q, want a miss", got)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
