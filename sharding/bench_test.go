package sharding

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

var benchModes = []struct {
	name string
	cfg  Config
}{
	{"xxhash", Config{}},
	{"xxhash-1probe", Config{Probes: 1}},
	{"xxhash-3probe", Config{Probes: 3}},
	{"ketama", Config{Mode: HashKetama}},
}

// benchKeys are 4096 typical keys, so lookups do not hit one cache line.
func benchKeys() [][]byte {
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = []byte("user:" + strconv.Itoa(i*7919) + ":profile")
	}
	return keys
}

func BenchmarkLookup(b *testing.B) {
	keys := benchKeys()
	for _, m := range benchModes {
		for _, n := range []int{10, 100, 1000} {
			r := mustNew(b, equalNodes(n), m.cfg)
			b.Run(fmt.Sprintf("%s/nodes=%d", m.name, n), func(b *testing.B) {
				b.ReportAllocs()
				sum := 0
				i := 0
				for b.Loop() {
					sum += r.Index(keys[i&4095])
					i++
				}
				if sum < 0 {
					b.Fatal(sum)
				}
			})
		}
	}
}

func BenchmarkLookupString(b *testing.B) {
	r := mustNew(b, equalNodes(100), Config{})
	keys := make([]string, 4096)
	for i, k := range benchKeys() {
		keys[i] = string(k)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := r.Lookup(keys[i&4095]); !ok {
			b.Fatal("no node")
		}
		i++
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, m := range []struct {
		name string
		cfg  Config
	}{benchModes[0], benchModes[3]} {
		for _, n := range []int{10, 100, 1000} {
			nodes := equalNodes(n)
			b.Run(fmt.Sprintf("%s/nodes=%d", m.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := New(nodes, m.cfg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPeakLoad measures balance rather than speed: over 50 sets of 10
// equal nodes with different IDs it reports the median and the worst ratio of
// the most loaded node's keys to the mean (200,000 keys per set).
func BenchmarkPeakLoad(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			var ratios []float64
			for b.Loop() {
				ratios = ratios[:0]
				for s := range 50 {
					nodes := make([]Node, 10)
					for i := range nodes {
						nodes[i] = Node{ID: fmt.Sprintf("set%d-node-%d", s, i), Addr: fmt.Sprintf("10.%d.0.%d:11211", s, i)}
					}
					r := mustNew(b, nodes, m.cfg)
					var counts [10]int
					buf := make([]byte, 0, 32)
					const keys = 200_000
					for k := range keys {
						buf = strconv.AppendInt(append(buf[:0], "key-"...), int64(k), 10)
						counts[r.Index(buf)]++
					}
					ratios = append(ratios, float64(slices.Max(counts[:]))/(keys/10))
				}
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "median-peak/mean")
			b.ReportMetric(ratios[len(ratios)-1], "worst-peak/mean")
		})
	}
}
