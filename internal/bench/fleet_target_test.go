package bench

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// twoZoneFleet starts one memcached in zone a (127.0.0.1) and one in zone
// b (127.0.0.2) and returns zone a's process and a fleet target living in
// zone a; edit adjusts the client's config.
func twoZoneFleet(t *testing.T, edit func(*client.Config)) (*testproc.Process, *FleetTarget) {
	t.Helper()
	a := testproc.StartMemcached(t, "-m", "64")
	b := testproc.StartMemcachedOn(t, "127.0.0.2", "-m", "64")
	topo := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a1", Zone: "a", Addr: a.Addr},
		{ID: "b1", Zone: "b", Addr: b.Addr},
	}}
	// Generous timeouts: a loaded machine must not turn a slow answer from
	// zone b into an error.
	cfg := client.Config{Zone: "a", Topology: topo, Logger: slog.New(slog.DiscardHandler),
		Node: nodeclient.Config{Online: nodeclient.PoolConfig{Timeout: 5 * time.Second}}}
	if edit != nil {
		edit(&cfg)
	}
	fleet, err := NewFleetTarget(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fleet.Close() })
	return a, fleet
}

func TestScenarioZoneLostThroughFleet(t *testing.T) {
	// Two zones of one memcached each; the client lives in zone a. Zone a
	// is killed mid-run: reads fall back to zone b and keep hitting, writes
	// still meet the all-minus-one policy, and the zone counters show it.
	a, fleet := twoZoneFleet(t, nil)
	cfg := Config{
		Workload:    Workload{Keys: 500, Mix: Mix{Get: 80, Set: 10, MultiGet: 10}, Batch: 5},
		Concurrency: 4,
		Duration:    3 * time.Second,
		Prefill:     true,
		Events: []Event{{At: time.Second, Label: "zone a lost", Do: func(context.Context) error {
			a.Kill()
			return nil
		}}},
	}
	res, err := Run(context.Background(), cfg, "fleet", fleet)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prefill.Errors != 0 || res.Errors != 0 {
		t.Fatalf("prefill errors %d, run errors %d %v: the fleet must ride out one lost zone", res.Prefill.Errors, res.Errors, res.ErrorSamples)
	}
	if res.Misses != 0 {
		t.Fatalf("%d misses: every key was prefilled in both zones", res.Misses)
	}
	last := res.Series[len(res.Series)-1]
	if last.Hits == 0 {
		t.Fatalf("last point %+v: no hits after the zone was lost", last)
	}
	if len(res.Zones) != 2 {
		t.Fatalf("zones %+v", res.Zones)
	}
	za, zb := res.Zones[0], res.Zones[1]
	if za.Zone != "a" || zb.Zone != "b" || za.Errors == 0 || za.Fallbacks == 0 || zb.Hits == 0 || zb.Fallbacks != 0 {
		t.Fatalf("zone a %+v, zone b %+v: want errors and fallbacks in a, hits in b, no fallback after the last zone", za, zb)
	}
}

// Multi-gets count per zone by key: with every key in zone a, zone a
// holds every hit; with zone a emptied, every key misses there, falls back
// and hits in zone b.
func TestFleetMultiGetCountsKeysPerZone(t *testing.T) {
	a, fleet := twoZoneFleet(t, func(c *client.Config) {
		c.WritePolicy, c.DisableReadRepair = replication.All, true
	})
	cfg := Config{
		Workload:    Workload{Keys: 200, Mix: Mix{MultiGet: 1}, Batch: 5},
		Concurrency: 2,
		Ops:         200,
		Prefill:     true,
	}
	res, err := Run(context.Background(), cfg, "fleet", fleet)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Hits != 200*5 || len(res.Zones) < 1 {
		t.Fatalf("errors %d, hits %d (want 1000), zones %+v", res.Errors, res.Hits, res.Zones)
	}
	if za := res.Zones[0]; za.Zone != "a" || za.Hits != res.Hits || za.Misses != 0 || za.Fallbacks != 0 || za.Requests < 200 {
		t.Fatalf("zone a %+v: want all %d hits, no misses or fallbacks", za, res.Hits)
	}

	nc, err := net.Dial("tcp", a.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, "flush_all\r\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(nc).ReadString('\n'); err != nil || line != "OK\r\n" {
		t.Fatalf("flush_all: %q %v", line, err)
	}
	cfg.Prefill = false
	res, err = Run(context.Background(), cfg, "fleet", fleet)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Hits != 200*5 || len(res.Zones) != 2 {
		t.Fatalf("errors %d, hits %d (want 1000), zones %+v", res.Errors, res.Hits, res.Zones)
	}
	za, zb := res.Zones[0], res.Zones[1]
	if za.Hits != 0 || za.Misses != res.Hits || za.Fallbacks != za.Requests || zb.Hits != res.Hits || zb.Misses != 0 || zb.Fallbacks != 0 {
		t.Fatalf("zone a %+v, zone b %+v: want every key missed and fallen back in a, hit in b", za, zb)
	}
}
