package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactPercentile is the nearest-rank percentile of sorted values.
func exactPercentile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func checkPercentiles(t *testing.T, name string, values []int64) {
	t.Helper()
	h := NewHistogram()
	for _, v := range values {
		h.Record(v)
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	if h.Count() != uint64(len(values)) {
		t.Fatalf("%s: count %d, want %d", name, h.Count(), len(values))
	}
	if h.Min() != sorted[0] || h.Max() != sorted[len(sorted)-1] {
		t.Fatalf("%s: min/max %d/%d, want %d/%d", name, h.Min(), h.Max(), sorted[0], sorted[len(sorted)-1])
	}
	for _, q := range []float64{0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999} {
		want := exactPercentile(sorted, q)
		got := h.Percentile(q)
		if rel := math.Abs(float64(got-want)) / math.Max(float64(want), 1); rel > MaxRelativeError {
			t.Errorf("%s: p%g = %d, exact %d, relative error %.5f > %.5f", name, q*100, got, want, rel, MaxRelativeError)
		}
	}
	var sum float64
	for _, v := range values {
		sum += float64(v)
	}
	if mean := sum / float64(len(values)); math.Abs(h.Mean()-mean) > 1e-6*mean {
		t.Errorf("%s: mean %f, want %f", name, h.Mean(), mean)
	}
}

func TestHistogramUniform(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := make([]int64, 200_000)
	for i := range values {
		values[i] = 1_000 + r.Int64N(10_000_000) // 1 µs .. 10 ms
	}
	checkPercentiles(t, "uniform", values)
}

func TestHistogramExponential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := make([]int64, 200_000)
	for i := range values {
		values[i] = int64(r.ExpFloat64() * 250_000) // mean 250 µs, long tail
	}
	checkPercentiles(t, "exponential", values)
}

func TestHistogramWideRange(t *testing.T) {
	// Log-uniform over 0 .. MaxTrackable: every octave, including the exact
	// region below 256 and the top bucket.
	r := rand.New(rand.NewPCG(5, 6))
	values := make([]int64, 100_000)
	for i := range values {
		values[i] = int64(math.Exp2(r.Float64() * histBits))
	}
	values = append(values, 0, MaxTrackable)
	checkPercentiles(t, "log-uniform", values)
}

func TestHistogramBeyondMaxTrackable(t *testing.T) {
	h := NewHistogram()
	h.Record(math.MaxInt64)
	h.Record(1000)
	if h.Max() != math.MaxInt64 || h.Percentile(1) != math.MaxInt64 {
		t.Fatalf("max %d p100 %d, want the exact max", h.Max(), h.Percentile(1))
	}
	if p := h.Percentile(0.99); float64(p) < MaxTrackable*(1-MaxRelativeError) {
		t.Fatalf("p99 %d, want ≈ MaxTrackable (%d)", p, int64(MaxTrackable))
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	h := NewHistogram()
	for v := int64(0); v < 2*histSub; v++ {
		h.Record(v)
	}
	for v := int64(0); v < 2*histSub; v++ {
		q := float64(v+1) / float64(2*histSub)
		if got := h.Percentile(q); got != v {
			t.Fatalf("Percentile(%g) = %d, want %d (values below 256 are exact)", q, got, v)
		}
	}
}

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1 << 20, 1<<20 + 12345, 1 << 39, MaxTrackable - 1, MaxTrackable} {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		lo, w := bucketBounds(i)
		if v < lo || v-lo >= w {
			t.Fatalf("value %d not in its bucket %d [%d, %d+%d)", v, i, lo, lo, w)
		}
		if lo >= 2*histSub && float64(w)/float64(lo) > 1.0/histSub {
			t.Fatalf("bucket %d too wide: %d/%d", i, w, lo)
		}
	}
}

func TestHistogramMergeEqualsSingle(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	whole := NewHistogram()
	parts := []*Histogram{NewHistogram(), NewHistogram(), NewHistogram()}
	for i := 0; i < 90_000; i++ {
		v := int64(r.ExpFloat64() * float64(1000*(i%3+1)))
		whole.Record(v)
		parts[i%3].Record(v)
	}
	merged := NewHistogram()
	for _, p := range parts {
		merged.Merge(p)
	}
	if merged.Count() != whole.Count() || merged.Min() != whole.Min() || merged.Max() != whole.Max() {
		t.Fatalf("merged count/min/max %d/%d/%d, want %d/%d/%d", merged.Count(), merged.Min(), merged.Max(), whole.Count(), whole.Min(), whole.Max())
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		if merged.Percentile(q) != whole.Percentile(q) {
			t.Errorf("p%g: merged %d, single %d", q*100, merged.Percentile(q), whole.Percentile(q))
		}
	}
	merged.Reset()
	if merged.Count() != 0 || merged.Percentile(0.5) != 0 || merged.Max() != 0 {
		t.Fatalf("after Reset: count %d p50 %d max %d", merged.Count(), merged.Percentile(0.5), merged.Max())
	}
	merged.Record(42)
	if merged.Percentile(0.99) != 42 {
		t.Fatalf("after Reset and Record(42): p99 %d", merged.Percentile(0.99))
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	h := NewHistogram()
	if h.Percentile(0.99) != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-5)
	if h.Count() != 1 || h.Max() != 0 {
		t.Fatalf("negative value: count %d max %d", h.Count(), h.Max())
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	h := NewHistogram()
	v := int64(1)
	if n := testing.AllocsPerRun(1000, func() { h.Record(v); v = v*3 + 7 }); n != 0 {
		t.Fatalf("Record allocates %v times per call", n)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	r := rand.New(rand.NewPCG(1, 1))
	vals := make([]int64, 1024)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * 300_000)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		h.Record(vals[i&1023])
	}
}
