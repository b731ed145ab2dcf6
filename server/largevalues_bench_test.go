package server

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// BenchmarkItemsKeptBySize writes values of one size into Debian's
// memcached and zonecached, both -m 64, until each is full twice over
// (20-byte keys, no reads), then reports how many items each still serves
// and the ratio. 1,048,497 bytes is the largest value -I 1m accepts with
// such a key.
// Run it once: go test -run '^$' -bench ItemsKeptBySize -benchtime 1x ./server/
func BenchmarkItemsKeptBySize(b *testing.B) {
	testproc.RequireMemcached(b)
	for _, valueLen := range []int{1_048_497, 1_048_326, 600_000, 524_288, 200_000, 100_000, 10_000, 1_000, 100} {
		b.Run(fmt.Sprintf("value=%d", valueLen), func(b *testing.B) {
			n := 2*(64<<20)/valueLen + 1
			var mcKept, zcKept int
			for range b.N {
				mc := testproc.StartMemcached(b, "-m", "64", "-t", "2")
				zc := testproc.StartZonecached(b, "-m", "64")
				keys := func(yield func(int) bool) {
					for k := range n {
						if !yield(k) {
							return
						}
					}
				}
				setAll(b, mc.Addr, valueLen, keys)
				setAll(b, zc.Addr, valueLen, keys)
				mcKept = readable(b, mc.Addr, n)
				zcKept = readable(b, zc.Addr, n)
				mc.Kill()
				zc.Kill()
			}
			b.ReportMetric(float64(mcKept), "memcached-items")
			b.ReportMetric(float64(zcKept), "zonecached-items")
			b.ReportMetric(float64(zcKept)/float64(mcKept), "zonecached/memcached")
		})
	}
}

// readable counts the keys key:%016d below n that addr serves, asking
// for 100 keys per get.
func readable(b *testing.B, addr string, n int) int {
	b.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioDeadline)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Minute))
	r := bufio.NewReaderSize(nc, 256<<10)
	found := 0
	for from := 0; from < n; from += 100 {
		var req strings.Builder
		req.WriteString("get")
		for k := from; k < min(n, from+100); k++ {
			fmt.Fprintf(&req, " key:%016d", k)
		}
		req.WriteString("\r\n")
		if _, err := nc.Write([]byte(req.String())); err != nil {
			b.Fatal(err)
		}
		got, err := countValues(r)
		if err != nil {
			b.Fatal(err)
		}
		found += got
	}
	return found
}

// countValues reads one get reply and returns the number of values in it.
func countValues(r *bufio.Reader) (int, error) {
	values := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return values, err
		}
		if line == "END\r\n" {
			return values, nil
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "VALUE" {
			return values, fmt.Errorf("unexpected reply line %q", line)
		}
		size, err := strconv.Atoi(f[3])
		if err != nil {
			return values, err
		}
		if _, err := r.Discard(size + 2); err != nil {
			return values, err
		}
		values++
	}
}
