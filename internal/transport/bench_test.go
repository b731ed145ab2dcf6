package transport

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

const (
	benchKeys     = 1024
	benchValueLen = 100
)

// BenchmarkVsGomemcache runs gets through this transport and through raw
// gomemcache (MaxIdleConns 64) against ONE memcached started for the run:
//
//	Parallel64: 64 goroutines (b.SetParallelism on GOMAXPROCS) doing gets;
//	            compare ns/op (inverse throughput).
//	Serial:     one goroutine; ns/op is the per-get latency.
func BenchmarkVsGomemcache(b *testing.B) {
	mc := startMemcached(b)
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), benchValueLen)
	keys := make([]string, benchKeys)
	n := newTestNode(b, mc.Addr, Config{Online: PoolConfig{Timeout: 10 * time.Second}})
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:key:%d", i)
		if err := n.Online().Set(ctx, Item{Key: keys[i], Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	gm := memcache.New(mc.Addr)
	gm.MaxIdleConns = 64
	gm.Timeout = 10 * time.Second
	defer gm.Close()

	tget := func(i int) error {
		it, err := n.Online().Get(ctx, keys[i%benchKeys])
		if err == nil && len(it.Value) != benchValueLen {
			err = fmt.Errorf("got %d bytes", len(it.Value))
		}
		return err
	}
	gget := func(i int) error {
		it, err := gm.Get(keys[i%benchKeys])
		if err == nil && len(it.Value) != benchValueLen {
			err = fmt.Errorf("got %d bytes", len(it.Value))
		}
		return err
	}
	parallel := func(get func(int) error) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(max(1, 64/runtimeProcs()))
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := get(i); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
		}
	}
	serial := func(get func(int) error) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := get(i); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("Parallel64/transport", func(b *testing.B) {
		before := n.Stats()
		parallel(tget)(b)
		after := n.Stats()
		b.ReportMetric(float64(after.Sent-before.Sent)/float64(max(1, after.Writes-before.Writes)), "reqs/write")
	})
	b.Run("Parallel64/gomemcache", parallel(gget))
	b.Run("Serial/transport", serial(tget))
	b.Run("Serial/gomemcache", serial(gget))
}
