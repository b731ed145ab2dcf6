package client

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkDeleteHoldOff: p50 of a replicated Delete (3 zones, default
// policy) that leaves a tombstone (DeleteHoldOff default) against one that
// removes the key (DeleteHoldOff < 0, the behaviour before tombstones),
// alternating slices on one fleet; reports delete_p50_ratio. ZC_SERVER=
// memcached runs it on memcached (default zonecached).
//
//	go test -run '^$' -bench DeleteHoldOff -benchtime 20000x ./client
func BenchmarkDeleteHoldOff(b *testing.B) {
	server := "zonecached"
	if os.Getenv("ZC_SERVER") == "memcached" {
		server = "memcached"
	}
	f := startFleet(b, server, []string{"a", "b", "c"}, 1)
	clients := []*Client{
		newTestClient(b, f.topo, "a", nil),
		newTestClient(b, f.topo, "a", func(c *Config) { c.DeleteHoldOff = -1 }),
	}
	keys := benchKeys(b, clients[0], 1000)
	ctx := context.Background()
	lat := [2][]time.Duration{}
	b.ResetTimer()
	for done := 0; done < b.N; done += benchSlice {
		n := min(benchSlice, b.N-done)
		for _, v := range order(done / benchSlice) {
			for i := 0; i < n; i++ {
				start := time.Now()
				if _, err := clients[v].Delete(ctx, keys[(done+i)%len(keys)]); err != nil {
					b.Fatal(err)
				}
				lat[v] = append(lat[v], time.Since(start))
			}
		}
	}
	b.StopTimer()
	p50 := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	on, off := p50(lat[0]), p50(lat[1])
	b.ReportMetric(float64(on.Microseconds()), "tombstone_p50_µs")
	b.ReportMetric(float64(off.Microseconds()), "plain_p50_µs")
	b.ReportMetric(float64(on)/float64(off), "delete_p50_ratio")
}
