package sharding

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSortEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 5, 4095, 4096, 5000, 70_000} {
		for _, posBits := range []uint{32, 8} { // 8 bits: many equal positions
			in := make([]uint64, n)
			for i := range in {
				in[i] = uint64(rng.Uint32()>>(32-posBits))<<32 | uint64(rng.Uint32())
			}
			want := slices.Clone(in)
			slices.Sort(want)
			got := sortEntries(slices.Clone(in), make([]uint64, n))
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d posBits=%d: sortEntries differs from slices.Sort", n, posBits)
			}
		}
	}
}

func BenchmarkSortEntries(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([]uint64, 160_000) // 1000 nodes x 160 points
	for i := range in {
		in[i] = uint64(rng.Uint32())<<32 | uint64(i%1000)
	}
	work, tmp := make([]uint64, len(in)), make([]uint64, len(in))
	b.Run("radix", func(b *testing.B) {
		for b.Loop() {
			copy(work, in)
			sortEntries(work, tmp)
		}
	})
	b.Run("pdqsort", func(b *testing.B) {
		for b.Loop() {
			copy(work, in)
			slices.Sort(work)
		}
	})
}
