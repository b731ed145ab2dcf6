package server

import (
	"bufio"
	"fmt"
	"iter"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// overwrite writes n items (20-byte keys, values of valueLen bytes) to addr
// once, then overwrites rounds*n of them chosen at random (the same seed for
// every server), and waits until the server has processed them.
func overwrite(b *testing.B, addr string, n, rounds, valueLen int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	setAll(b, addr, valueLen, func(yield func(int) bool) {
		for i := 0; i < n*(1+rounds); i++ {
			k := i
			if i >= n {
				k = rng.IntN(n)
			}
			if !yield(k) {
				return
			}
		}
	})
}

// setAll sends a pipelined noreply set of key:%016d (a value of valueLen
// bytes) for each number keys yields, then waits until addr has processed
// them.
func setAll(b *testing.B, addr string, valueLen int, keys iter.Seq[int]) {
	b.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioDeadline)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	w := bufio.NewWriterSize(nc, 256<<10)
	value := strings.Repeat("v", valueLen)
	for k := range keys {
		fmt.Fprintf(w, "set key:%016d 0 0 %d noreply\r\n%s\r\n", k, valueLen, value)
	}
	fmt.Fprint(w, "mn\r\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Minute))
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil || line != "MN\r\n" {
		b.Fatalf("after sets: %q %v", line, err)
	}
}

// BenchmarkLiveItemsKept is the eviction workload against Debian's
// memcached and zonecached, both -m 64: live items of 4 KiB values filling
// 25, 50, 75 and 90 % of -m, written once and then overwritten at random
// three times over, no reads; it reports the share of live items each
// server kept and the ratio.
// Run it once: go test -run '^$' -bench LiveItemsKept -benchtime 1x ./server/
func BenchmarkLiveItemsKept(b *testing.B) {
	testproc.RequireMemcached(b)
	const valueLen, rounds = 4096, 3
	for _, share := range []int{25, 50, 75, 90} {
		b.Run(fmt.Sprintf("live=%d%%", share), func(b *testing.B) {
			n := share * (64 << 20) / 100 / valueLen
			var mcKept, zcKept float64
			for range b.N {
				mc := testproc.StartMemcached(b, "-m", "64", "-t", "2")
				zc := testproc.StartZonecached(b, "-m", "64")
				overwrite(b, mc.Addr, n, rounds, valueLen)
				overwrite(b, zc.Addr, n, rounds, valueLen)
				mcKept = float64(hits(b, mc.Addr, n, 1)) / float64(n)
				zcKept = float64(hits(b, zc.Addr, n, 1)) / float64(n)
				mc.Kill()
				zc.Kill()
			}
			b.ReportMetric(100*mcKept, "memcached-%kept")
			b.ReportMetric(100*zcKept, "zonecached-%kept")
			b.ReportMetric(zcKept/mcKept, "zonecached/memcached")
		})
	}
}
