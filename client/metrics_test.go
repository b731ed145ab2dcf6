package client

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// A value found in another zone after a local miss is written back to the
// local replica with its remaining TTL; the metrics registered on a
// Registerer show hits, fallback hits, read repairs and breaker states.
func TestReadRepairAndMetrics(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	var calls []string
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.Registerer = reg
		c.Hooks.OnRequest = func(_ context.Context, e RequestEvent) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, e.Op+":"+e.Key+":"+e.Result)
		}
	})
	if _, err := c.Set(ctx, Item{Key: "rr", Value: []byte("v"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	a0 := direct(t, f.proc("a0").Addr)
	if err := a0.Delete(ctx, "rr"); err != nil {
		t.Fatal(err)
	}
	if it, err := c.Get(ctx, "rr"); err != nil || string(it.Value) != "v" {
		t.Fatalf("fallback Get: %q %v", it.Value, err)
	}
	eventually(t, "read repair to zone a", func() bool {
		it, err := a0.Get(context.Background(), "rr")
		return err == nil && string(it.Value) == "v" && it.TTL > 3000 && it.TTL <= 3600
	})
	// The repair counts its result after the node has answered it: wait
	// for the count too.
	eventually(t, "read repair counted", func() bool {
		return testutil.ToFloat64(c.c.metrics.readRepairs.WithLabelValues("ok")) == 1
	})
	if _, err := c.Get(ctx, "rr"); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`zonecache_client_requests_total{op="get",result="miss",zone="a"}`:         1,
		`zonecache_client_requests_total{op="get",result="fallback_hit",zone="b"}`: 1,
		`zonecache_client_requests_total{op="get",result="hit",zone="a"}`:          1,
		`zonecache_client_read_repairs_total{result="ok"}`:                         1,
		`zonecache_client_breaker_state{node="a0"}`:                                0,
	}
	checkMetrics(t, reg, want)
	mu.Lock()
	if got := strings.Join(calls, " "); got != "set:rr:ok get:rr:fallback_hit get:rr:hit" {
		t.Errorf("OnRequest saw %q", got)
	}
	mu.Unlock()

	f.proc("b0").Kill()
	eventually(t, "breaker of b0 open", func() bool {
		_, _ = c.Set(context.Background(), Item{Key: "x", Value: []byte("x")})
		return c.c.view.Load().byID["b0"].tn.State() == nodeclient.StateOpen
	})
	checkMetrics(t, reg, map[string]float64{`zonecache_client_breaker_state{node="b0"}`: 1})
	if n, err := testutil.GatherAndCount(reg, "zonecache_client_request_duration_seconds"); err != nil || n == 0 {
		t.Fatalf("latency histogram: %d %v", n, err)
	}
	_ = c.Close()
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Fatalf("%d metrics left registered after Close", n)
	}
}

// checkMetrics compares the gathered samples named in want.
func checkMetrics(t *testing.T, reg *prometheus.Registry, want map[string]float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				got[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[name] = m.GetGauge().GetValue()
			}
		}
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
}
