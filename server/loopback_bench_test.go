package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// loadFor runs conns clients against addr for d, each sending one request
// and waiting for its reply (90% get, 10% set of 100-byte values over 10,000
// keys), and returns the number of requests answered.
func loadFor(b *testing.B, addr string, conns int, d time.Duration) int64 {
	b.Helper()
	var done atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	value := strings.Repeat("v", 100)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(seed int) {
			defer wg.Done()
			nc, err := net.DialTimeout("tcp", addr, ioDeadline)
			if err != nil {
				b.Error(err)
				return
			}
			defer nc.Close()
			r := bufio.NewReader(nc)
			w := bufio.NewWriter(nc)
			n := int64(0)
			for k := seed; time.Now().Before(stop); k++ {
				key := k * 7919 % 10000
				if k%10 == 0 {
					fmt.Fprintf(w, "set key:%016d 0 0 100\r\n%s\r\n", key, value)
				} else {
					fmt.Fprintf(w, "get key:%016d\r\n", key)
				}
				if err := w.Flush(); err != nil {
					b.Error(err)
					return
				}
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						b.Error(err)
						return
					}
					if s := string(line); s == "END\r\n" || s == "STORED\r\n" {
						break
					}
				}
				n++
			}
			done.Add(n)
		}(i * 1000)
	}
	wg.Wait()
	return done.Load()
}

// BenchmarkLoopbackVersusMemcached drives Debian's memcached (-t 2) and
// zonecached with the same closed-loop client, alternating 1-second slices
// so that load from elsewhere hits both alike, and reports requests per
// second of each and the ratio.
// Run it once: go test -run '^$' -bench Loopback -benchtime 1x ./server/
func BenchmarkLoopbackVersusMemcached(b *testing.B) {
	testproc.RequireMemcached(b)
	mc := testproc.StartMemcached(b, "-m", "1024", "-t", "2")
	zc := testproc.StartZonecached(b, "-m", "1024")
	const conns, slices = 50, 5
	var mcOps, zcOps int64
	for range b.N {
		for i := 0; i < slices; i++ {
			mcOps += loadFor(b, mc.Addr, conns, time.Second)
			zcOps += loadFor(b, zc.Addr, conns, time.Second)
		}
	}
	secs := float64(slices * b.N)
	b.ReportMetric(float64(mcOps)/secs, "memcached-req/s")
	b.ReportMetric(float64(zcOps)/secs, "zonecached-req/s")
	b.ReportMetric(float64(zcOps)/float64(mcOps), "zonecached/memcached")
}
