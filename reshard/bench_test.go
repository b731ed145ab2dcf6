package reshard

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// BenchmarkCopy copies every item of one stock memcached to another (a-1
// replaced by a-2: all its keys move), without a rate limit and within
// one, and reports items and bytes per second of the copy alone.
//
//	go test -run XXX -bench Copy -benchtime 1x ./reshard/
func BenchmarkCopy(b *testing.B) {
	for _, c := range []struct {
		keys, size int
		rate       float64
	}{{100_000, 100, 0}, {100_000, 100, 20_000}, {25_000, 4096, 0}} {
		b.Run(fmt.Sprintf("keys=%d/size=%d/rate=%g", c.keys, c.size, c.rate), func(b *testing.B) {
			src, dst := testproc.StartMemcached(b, "-m", "512"), testproc.StartMemcached(b, "-m", "512")
			bulkFill(b, src.Addr, c.keys, c.size)
			cur := replication.Topology{Epoch: 1, Nodes: []replication.Node{{ID: "a-1", Zone: "a", Addr: src.Addr}}}
			tgt := replication.Topology{Epoch: 3, Nodes: []replication.Node{{ID: "a-2", Zone: "a", Addr: dst.Addr}}}
			plan, err := NewPlan(context.Background(), Config{Current: cur, Target: tgt})
			// memcached's metadump may miss a few items moving between its
			// LRUs while it crawls.
			if err != nil || plan.Keys() < int64(c.keys)*99/100 {
				b.Fatalf("plan of %d keys (%+v): %v", plan.Keys(), plan.Stats, err)
			}
			if plan.Keys() != int64(c.keys) {
				b.Logf("the dump listed %d of %d items (total_items %d)", plan.Stats.Scanned, c.keys, totalItems(b, src.Addr))
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				roundTrip(b, dst.Addr, "flush_all\r\n")
				b.StartTimer()
				st, err := Copy(context.Background(), plan, CopyConfig{Rate: c.rate})
				if err != nil || st.Copied != plan.Keys() {
					b.Fatalf("copy: %v %v", st, err)
				}
			}
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(plan.Keys())/s, "keys/s")
			b.ReportMetric(float64(plan.Bytes())/s/1e6, "MB/s")
			b.ReportMetric(float64(plan.Keys())*float64(c.size)/s/1e6, "valueMB/s")
		})
	}
}

// bulkFill stores n items of size bytes at addr with pipelined noreply sets.
func bulkFill(b *testing.B, addr string, n, size int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 1<<20)
	val := strings.Repeat("v", size)
	for i := range n {
		fmt.Fprintf(w, "set bench:%d 0 0 %d noreply\r\n%s\r\n", i, size, val)
	}
	w.WriteString("version\r\n") // answered once every set before it is done
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		b.Fatal(err)
	}
}

func roundTrip(b *testing.B, addr, cmd string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd)); err != nil {
		b.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		b.Fatal(err)
	}
}
