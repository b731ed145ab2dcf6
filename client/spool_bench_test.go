package client

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// BenchmarkSpoolCost: replicated Set p50 (all-minus-one of three zones)
// with and without a repair spool, in alternating slices, on a healthy
// fleet (no repair queued: the spool costs nothing) and on a fleet whose
// zone c node refuses connections (every Set queues a repair of it, which
// the spool writes to its segment). Reports the p50s and the ratios
// spool/memory for each case. The client is in zone a (the repair is
// spooled off the caller's goroutine), or in ZC_SPOOL_ZONE (c: on it).
func BenchmarkSpoolCost(b *testing.B) {
	f := startFleet(b, os.Getenv("ZC_SERVER"), []string{"a", "b", "c"}, 1)
	broken := replication.Topology{Epoch: 1}
	for _, n := range f.topo.Nodes {
		if n.Zone == "c" {
			n.Addr = net.JoinHostPort(zoneHosts["c"], strconv.Itoa(testproc.FreePort(b, zoneHosts["c"])))
		}
		broken.Nodes = append(broken.Nodes, n)
	}
	spooled := func(c *Config) { c.RepairSpoolDir = b.TempDir(); c.CloseTimeout = -1 }
	memory := func(c *Config) { c.CloseTimeout = -1 }
	zone := "a" // ZC_SPOOL_ZONE=c: the client's own zone is the one down
	if z := os.Getenv("ZC_SPOOL_ZONE"); z != "" {
		zone = z
	}
	clients := []*Client{
		newTestClient(b, f.topo, zone, memory), newTestClient(b, f.topo, zone, spooled),
		newTestClient(b, broken, zone, memory), newTestClient(b, broken, zone, spooled),
	}
	val := make([]byte, 100)
	var lat [4][]time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += benchSlice {
		n := min(benchSlice, b.N-done)
		for _, v := range rotate(done/benchSlice, 4) {
			l, err := timed(n, benchSetWorkers, func(i int) error {
				_, err := clients[v].Set(context.Background(), Item{Key: fmt.Sprintf("spool-%d", (done+i)%1000), Value: val})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			lat[v] = append(lat[v], l...)
		}
	}
	b.StopTimer()
	p := func(v int) time.Duration { return percentile(lat[v], 0.5) }
	b.ReportMetric(float64(p(0).Microseconds()), "healthy_memory_p50_us")
	b.ReportMetric(float64(p(1).Microseconds()), "healthy_spool_p50_us")
	b.ReportMetric(float64(p(2).Microseconds()), "repairing_memory_p50_us")
	b.ReportMetric(float64(p(3).Microseconds()), "repairing_spool_p50_us")
	b.ReportMetric(float64(p(1))/float64(p(0)), "healthy_spool_ratio")
	b.ReportMetric(float64(p(3))/float64(p(2)), "repairing_spool_ratio")
	if n, _ := clients[3].c.spool.pending(); n == 0 || clients[2].PendingRepairs() == 0 {
		b.Fatalf("no repairs queued with zone c down (%d spooled)", n)
	}
}
