package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// fill writes n items (20-byte keys, values of valueLen bytes) to addr with
// pipelined noreply sets, then waits until the server has processed them.
func fill(b *testing.B, addr string, n, valueLen int) {
	b.Helper()
	setAll(b, addr, valueLen, func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	})
}

// hits counts how many of every step-th key among the first n are present.
func hits(b *testing.B, addr string, n, step int) int {
	b.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioDeadline)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(nc)
	found := 0
	for i := 0; i < n; i += step {
		fmt.Fprintf(nc, "get key:%016d\r\n", i)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if line == "END\r\n" {
				break
			}
			if strings.HasPrefix(line, "VALUE ") {
				found++
				if _, err := r.ReadString('\n'); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return found
}

func rss(b *testing.B, p *testproc.Process) float64 {
	b.Helper()
	v, err := p.RSSBytes()
	if err != nil {
		b.Fatal(err)
	}
	return float64(v) / (1 << 20)
}

// BenchmarkRSSMillionItems fills Debian's memcached (-m 1024 -t 2) and
// zonecached (-m 1024) with the same 1,000,000 items (20-byte keys,
// 100-byte values) and reports each one's resident memory and the ratio.
// Run it once: go test -run '^$' -bench RSS -benchtime 1x ./server/
func BenchmarkRSSMillionItems(b *testing.B) {
	testproc.RequireMemcached(b)
	const n = 1_000_000
	mc := testproc.StartMemcached(b, "-m", "1024", "-t", "2")
	zc := testproc.StartZonecached(b, "-m", "1024")
	for range b.N {
		fill(b, mc.Addr, n, 100)
		fill(b, zc.Addr, n, 100)
	}
	mcRSS, zcRSS := rss(b, mc), rss(b, zc)
	if h := hits(b, zc.Addr, n, 1000); h != n/1000 {
		b.Fatalf("zonecached kept %d of %d sampled items", h, n/1000)
	}
	if h := hits(b, mc.Addr, n, 1000); h != n/1000 {
		b.Fatalf("memcached kept %d of %d sampled items", h, n/1000)
	}
	b.ReportMetric(mcRSS, "memcached-RSS-MiB")
	b.ReportMetric(zcRSS, "zonecached-RSS-MiB")
	b.ReportMetric(zcRSS/mcRSS, "zonecached/memcached")
}

// BenchmarkRSSOverLimit writes about 500 MB (500,000 items of 1,000-byte
// values) into servers limited to -m 64 and reports RSS against the limit,
// and zonecached's stated bound (Config.MemoryBound for -m 64 and the
// default -I and -c) with the headroom left under it.
// Run it once: go test -run '^$' -bench RSS -benchtime 1x ./server/
func BenchmarkRSSOverLimit(b *testing.B) {
	testproc.RequireMemcached(b)
	const n = 500_000
	mc := testproc.StartMemcached(b, "-m", "64", "-t", "2")
	zc := testproc.StartZonecached(b, "-m", "64")
	for range b.N {
		fill(b, mc.Addr, n, 1000)
		fill(b, zc.Addr, n, 1000)
	}
	mcRSS, zcRSS := rss(b, mc), rss(b, zc)
	// The newest items must be there, the oldest evicted.
	if h := hits(b, zc.Addr, n, 1000); h == 0 || h == n/1000 {
		b.Fatalf("zonecached: %d of %d sampled items present; want some evicted, some kept", h, n/1000)
	}
	b.ReportMetric(mcRSS, "memcached-RSS-MiB")
	b.ReportMetric(zcRSS, "zonecached-RSS-MiB")
	b.ReportMetric(mcRSS/64, "memcached-RSS/m")
	b.ReportMetric(zcRSS/64, "zonecached-RSS/m")
	bound := float64(Config{MaxBytes: 64 << 20}.MemoryBound()) / (1 << 20)
	b.ReportMetric(bound, "zonecached-bound-MiB")
	b.ReportMetric(bound-zcRSS, "zonecached-headroom-MiB")
	if zcRSS > bound {
		b.Errorf("zonecached RSS %.1f MiB over its stated bound %.1f MiB", zcRSS, bound)
	}
}
