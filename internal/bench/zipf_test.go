package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

// zipfChiSquare draws from NewZipf(n, theta) and compares the counts with
// the law (zipfLawChiSquare).
func zipfChiSquare(t *testing.T, n int, theta float64, draws int, top int) (chi2 float64, df int, counts []int) {
	t.Helper()
	z, err := NewZipf(n, theta)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(42, uint64(n)))
	counts = make([]int, n)
	for i := 0; i < draws; i++ {
		k := z.Rank(r)
		if k < 0 || k >= n {
			t.Fatalf("rank %d out of [0,%d)", k, n)
		}
		counts[k]++
	}
	chi2, df = zipfLawChiSquare(counts, theta, top)
	return chi2, df, counts
}

// zipfLawChiSquare compares observed counts of the top ranks (plus one bin
// for all other ranks) with the exact Zipf probabilities over len(counts)
// ranks with skew theta.
func zipfLawChiSquare(counts []int, theta float64, top int) (chi2 float64, df int) {
	var draws float64
	for _, c := range counts {
		draws += float64(c)
	}
	probs := make([]float64, len(counts))
	var norm float64
	for k := range probs {
		probs[k] = math.Pow(float64(k+1), -theta)
		norm += probs[k]
	}
	var restObs, restExp float64
	for k := range probs {
		p := probs[k] / norm
		if k < top {
			e := p * draws
			d := float64(counts[k]) - e
			chi2 += d * d / e
		} else {
			restObs += float64(counts[k])
			restExp += p * draws
		}
	}
	if restExp > 0 {
		d := restObs - restExp
		chi2 += d * d / restExp
		df = top
	} else {
		df = top - 1
	}
	return chi2, df
}

// chi2Critical approximates the 99.9 % quantile of the chi-square
// distribution with df degrees of freedom (Wilson–Hilferty).
func chi2Critical(df int) float64 {
	const z = 3.090 // standard normal 99.9 % quantile
	k := float64(df)
	a := 2 / (9 * k)
	return k * math.Pow(1-a+z*math.Sqrt(a), 3)
}

func TestZipfFrequenciesMatchLaw(t *testing.T) {
	for _, tc := range []struct {
		n     int
		theta float64
	}{
		{1000, 0.99}, // YCSB default
		{1000, 0.5},
		{1000, 1.0}, // the θ = 1 limit of H
		{100, 1.2},
		{100000, 0.99},
	} {
		const draws = 1_000_000
		chi2, df, counts := zipfChiSquare(t, tc.n, tc.theta, draws, 50)
		if crit := chi2Critical(df); chi2 > crit {
			t.Errorf("n=%d θ=%g: chi-square %.1f > critical %.1f (df %d)", tc.n, tc.theta, chi2, crit, df)
		}
		t.Logf("n=%d θ=%g: chi-square %.1f, critical %.1f (df %d)", tc.n, tc.theta, chi2, chi2Critical(df), df)
		// The skew shows: rank 0 over rank 9 is 10^θ.
		ratio := float64(counts[0]) / float64(counts[9])
		if want := math.Pow(10, tc.theta); math.Abs(ratio-want)/want > 0.1 {
			t.Errorf("n=%d θ=%g: count(rank1)/count(rank10) = %.2f, want ≈ %.2f", tc.n, tc.theta, ratio, want)
		}
	}
}

func TestZipfDetectsWrongSkew(t *testing.T) {
	// The test above must be able to fail: samples drawn with θ = 0.9 are
	// rejected against the θ = 0.99 law.
	z, _ := NewZipf(1000, 0.9)
	r := rand.New(rand.NewPCG(1, 1))
	counts := make([]float64, 1000)
	const draws = 1_000_000
	for i := 0; i < draws; i++ {
		counts[z.Rank(r)]++
	}
	want, _ := NewZipf(1000, 0.99)
	var chi2 float64
	for k := 0; k < 50; k++ {
		e := want.Probability(k) * draws
		chi2 += (counts[k] - e) * (counts[k] - e) / e
	}
	if chi2 < chi2Critical(50) {
		t.Fatalf("chi-square %.1f does not separate θ=0.9 from θ=0.99", chi2)
	}
}

func TestZipfSingleRankAndErrors(t *testing.T) {
	z, err := NewZipf(1, 0.99)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 100; i++ {
		if k := z.Rank(r); k != 0 {
			t.Fatalf("one rank: got %d", k)
		}
	}
	for _, bad := range []struct {
		n int
		s float64
	}{{0, 1}, {10, 0}, {10, -1}, {10, math.NaN()}, {10, math.Inf(1)}} {
		if _, err := NewZipf(bad.n, bad.s); err == nil {
			t.Errorf("NewZipf(%d, %v) accepted", bad.n, bad.s)
		}
	}
}

func TestZipfProbabilitySumsToOne(t *testing.T) {
	z, _ := NewZipf(200, 0.99)
	var sum float64
	for k := 0; k < 200; k++ {
		sum += z.Probability(k)
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Fatalf("sum of probabilities %v", sum)
	}
}

func BenchmarkZipfRank(b *testing.B) {
	z, _ := NewZipf(1_000_000, 0.99)
	r := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		z.Rank(r)
	}
}
