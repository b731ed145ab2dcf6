package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/faultproxy"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/membership"
)

// joinBound is issue 5's bound: a node that joins appears in every client's
// topology within it. It is also the watch latency allowed on top of
// gossip's failure detection: the same path (a seed's topology changes, its
// long-poll answers, the client swaps rings).
const joinBound = 3 * time.Second

// seen records, per client, when a condition on its topology first held.
type seen []time.Duration

// poll checks cond for every client not yet recorded and records the time
// since start of those for which it holds; it reports whether all have.
func (s seen) poll(cs []*client.Client, start time.Time, cond func(*client.Client) bool) bool {
	all := true
	for i, c := range cs {
		if s[i] == 0 {
			if cond(c) {
				s[i] = time.Since(start)
			} else {
				all = false
			}
		}
	}
	return all
}

// within fails the test if any client took longer than bound.
func (s seen) within(t *testing.T, bound time.Duration, what string) {
	t.Helper()
	for i, d := range s {
		if d > bound {
			t.Errorf("client %d: %s after %v, more than %v", i, what, d.Round(time.Millisecond), bound)
		}
	}
	t.Logf("%s after %v (per client; bound %v)", what, s.rounded(), bound)
}

func (s seen) rounded() []time.Duration {
	out := make([]time.Duration, len(s))
	for i, d := range s {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

func ready(adminAddr string) bool {
	return admin.New(adminAddr).Ready(context.Background()) == nil
}

// The clock starts when fleet.Add returns: the new node's cache port
// accepts connections. zonecached listens on it before it joins the gossip
// and opens its admin listener (/readyz) only after the join, so this
// start is the earlier, stricter one; the time from /readyz is logged too.
func TestJoiningNodeAppearsInEveryClientTopologyWithin3s(t *testing.T) {
	f := gossipFleet(t)
	cs, _ := discoveredClients(t, f, 6, 3) // seeds a-1, b-1, c-1 first
	n, err := f.Add(context.Background(), "b", "b-3")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var readyAfter time.Duration
	got := make(seen, len(cs))
	testproc.Eventually(t, 30*time.Second, "the new node in every client's topology", func() bool {
		if readyAfter == 0 && ready(n.AdminAddr) {
			readyAfter = time.Since(start)
		}
		return got.poll(cs, start, func(c *client.Client) bool { return hasNode(c, "b-3", "") }) && readyAfter != 0
	})
	t.Logf("the new node answered /readyz %v after its cache port", readyAfter.Round(time.Millisecond))
	got.within(t, joinBound, "join seen from the cache port's first answer")
}

func TestKilledLocalNodeIsRemovedWithoutCallerErrors(t *testing.T) {
	const probe = 500 * time.Millisecond
	f := gossipFleet(t, "--gossip-probe-interval", probe.String())
	// The fleet's nodes run the local profile (internal/fleet) with this
	// probe interval: that is what bounds failure detection.
	detect, err := membership.FailureDetectionTime(membership.Config{Profile: "local", ProbeInterval: probe}, len(f.Nodes()))
	if err != nil {
		t.Fatal(err)
	}
	cs, regs := discoveredClients(t, f, 6, 3)
	l := startLoad(t, cs[0], 200)
	victim := f.Zone("a")[0] // in the clients' own zone: the read path must fall back
	before := fallbackHits(t, regs[0])
	victim.Kill()
	start := time.Now()
	gone := make(seen, len(cs))
	testproc.Eventually(t, 2*(detect+joinBound), "the killed node leaves every client's topology", func() bool {
		return gone.poll(cs, start, func(c *client.Client) bool { return !hasNode(c, victim.ID, "") })
	})
	during := fallbackHits(t, regs[0]) - before
	l.check(t, "while a node of the local zone died")
	gone.within(t, detect+joinBound, fmt.Sprintf("killed node removed (failure detection %v + watch %v)", detect, joinBound))
	if during == 0 {
		t.Fatal("no read fell back to another zone while the local replica was dead")
	}
	t.Logf("%.0f fallback hits until the last client dropped the dead node", during)
}

// Clients that cannot reach any seed keep working on their last topology:
// every seed's admin address is reached through a fault proxy, and the
// proxies are closed.
func TestClientsKeepTheirTopologyWhenEverySeedIsDown(t *testing.T) {
	f := gossipFleet(t)
	var seeds []string
	var proxies []*faultproxy.Proxy
	for _, zone := range []string{"a", "b", "c"} {
		p, err := faultproxy.New(f.Zone(zone)[0].AdminAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		proxies = append(proxies, p)
		seeds = append(seeds, p.Addr())
	}
	var failures atomic.Int64
	c := watchingClient(t, seeds, 6, nil, slog.New(warnCounter{&failures}))
	before := c.Topology()
	l := startLoad(t, c, 200)
	base := failures.Load()
	for _, p := range proxies {
		_ = p.Close()
	}
	ops := l.ops.Load()
	testproc.Eventually(t, 30*time.Second, "every seed failed twice, under load", func() bool {
		return failures.Load()-base >= int64(2*len(seeds)) && l.ops.Load() >= ops+500
	})
	l.check(t, "while every seed was unreachable")
	if after := c.Topology(); !reflect.DeepEqual(after, before) {
		t.Fatalf("topology changed with every seed down: epoch %d, %d nodes; was epoch %d, %d nodes",
			after.Epoch, len(after.Nodes), before.Epoch, len(before.Nodes))
	}
	t.Logf("%d failed watch requests; topology kept (epoch %d, %d nodes)", failures.Load(), before.Epoch, len(before.Nodes))
}

// warnCounter is a slog handler that counts records at warn level or above
// (discovery logs each failed watch request at warn) and drops the rest.
type warnCounter struct{ n *atomic.Int64 }

func (w warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}
func (w warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnCounter) WithGroup(string) slog.Handler      { return w }
