package bench_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/zonecache/zonecache/internal/bench"
)

func ExampleHistogram() {
	h := bench.NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.RecordDuration(time.Duration(i) * time.Microsecond)
	}
	fmt.Println("p50", time.Duration(h.Percentile(0.50)).Round(time.Microsecond))
	fmt.Println("p99", time.Duration(h.Percentile(0.99)).Round(time.Microsecond))
	fmt.Println("max", time.Duration(h.Max()))
	// The exact p50 and p99 are 500µs and 990µs; the histogram reports
	// bucket midpoints, within MaxRelativeError (0.39 %).
	// Output:
	// p50 501µs
	// p99 989µs
	// max 1ms
}

func ExampleParseMix() {
	m, err := bench.ParseMix("get=80, mget=10, del=10")
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Get, m.Set, m.Delete, m.MultiGet)
	fmt.Println(m)
	// Output:
	// 80 0 10 10
	// get=80,delete=10,mget=10
}

// Run measures one memcached node through gomemcache: 90 % get, 10 % set
// of 100-byte values over 100,000 prefilled keys, 50 workers, 20 s.
func ExampleRun() {
	const concurrency = 50
	target := bench.NewMemcacheTarget("127.0.0.1:11211", concurrency, time.Second)
	defer target.Close()
	cfg := bench.Config{
		Workload:    bench.Workload{Keys: 100_000, Mix: bench.Mix{Get: 90, Set: 10}},
		Concurrency: concurrency,
		Duration:    20 * time.Second,
		Prefill:     true,
	}
	res, err := bench.Run(context.Background(), cfg, "memcached", target)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = bench.NewReport(cfg, res).WriteTable(os.Stdout)
}

// Compare runs two nodes alternately and prints throughput and latency
// ratios of the second to the first.
func ExampleCompare() {
	a := bench.NewMemcacheTarget("127.0.0.1:11211", 50, time.Second)
	b := bench.NewMemcacheTarget("127.0.0.1:11311", 50, time.Second)
	cfg := bench.CompareConfig{Config: bench.Config{Concurrency: 50, Duration: 20 * time.Second, Prefill: true}}
	cmp, err := bench.Compare(context.Background(), cfg,
		bench.NamedTarget{Name: "memcached", Target: a}, bench.NamedTarget{Name: "zonecached", Target: b})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = bench.NewReport(cfg.Config, cmp.A, cmp.B).WriteTable(os.Stdout)
}
