package bench

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/internal/transport"
	"github.com/zonecache/zonecache/replication"
)

func TestScenarioZoneLostThroughFleet(t *testing.T) {
	// Two zones of one memcached each; the client lives in zone a. Zone a
	// is killed mid-run: reads fall back to zone b and keep hitting, writes
	// still meet the all-minus-one policy, and the zone counters show it.
	a := testproc.StartMemcached(t, "-m", "64")
	b := testproc.StartMemcachedOn(t, "127.0.0.2", "-m", "64")
	topo := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a1", Zone: "a", Addr: a.Addr},
		{ID: "b1", Zone: "b", Addr: b.Addr},
	}}
	// Generous timeouts: a loaded machine must not turn a slow answer from
	// zone b into an error.
	fleet, err := NewFleetTarget(client.Config{Zone: "a", Topology: topo, Logger: slog.New(slog.DiscardHandler),
		Transport: transport.Config{Online: transport.PoolConfig{Timeout: 5 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
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
