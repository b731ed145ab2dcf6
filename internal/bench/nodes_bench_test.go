package bench

import (
	"context"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// BenchmarkNodes measures one node of stock memcached (the anchor) and one
// of zonecached side by side in one run, each through gomemcache and
// through zonecache's transport: 50 workers, 90 % get / 10 % set of
// 100-byte values over 100,000 prefilled keys. ns/op is wall time per
// operation across all workers (1e9 / ns/op = throughput); p50-µs and
// p99-µs are latency percentiles and server-cpu-µs/op the server's CPU
// time per operation. For interleaved A/B numbers use zonebench --compare.
func BenchmarkNodes(b *testing.B) {
	if testing.Short() {
		b.Skip("starts memcached and zonecached")
	}
	mc := testproc.StartMemcached(b, "-m", "1024", "-t", "2")
	zc := testproc.StartZonecached(b, "-m", "1024")
	const concurrency = 50
	for _, tc := range []struct {
		name string
		proc *testproc.Process
		node bool
	}{
		{"memcached/gomemcache", mc, false},
		{"zonecached/gomemcache", zc, false},
		{"memcached/transport", mc, true},
		{"zonecached/transport", zc, true},
	} {
		var t Target
		if tc.node {
			t = NewNodeTarget(tc.proc.Addr, 0, time.Second, nil)
		} else {
			t = NewMemcacheTarget(tc.proc.Addr, concurrency, time.Second)
		}
		t = WithServerCPU(t, tc.proc.Pid())
		defer t.Close()
		cfg := Config{Workload: Workload{Keys: 100_000, Mix: Mix{Get: 90, Set: 10}}, Concurrency: concurrency}
		warm := cfg
		warm.Ops, warm.Prefill = 10_000, true
		if _, err := Run(context.Background(), warm, tc.name, t); err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			cfg := cfg
			cfg.Ops = int64(max(b.N, 1))
			b.ResetTimer()
			res, err := Run(context.Background(), cfg, tc.name, t)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Errors > 0 {
				b.Fatalf("%d errors: %v", res.Errors, res.ErrorSamples)
			}
			b.ReportMetric(float64(res.Latency.Percentile(0.5))/1e3, "p50-µs")
			b.ReportMetric(float64(res.Latency.Percentile(0.99))/1e3, "p99-µs")
			b.ReportMetric(float64(res.ServerCPUPerOp())/1e3, "server-cpu-µs/op")
		})
	}
}
