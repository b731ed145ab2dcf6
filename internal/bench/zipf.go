package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Zipf draws ranks 0..n-1 with P(rank k) ∝ 1/(k+1)^θ for any skew θ > 0,
// including the θ < 1 values common in cache studies (YCSB's default is
// 0.99), which the standard library's rand.Zipf (s > 1 only) cannot do.
type Zipf struct {
	n          float64
	theta      float64
	hX1        float64 // H(1.5) - 1
	hN         float64 // H(n + 0.5)
	squeezeLim float64 // accept without the exact test when k - x <= this
}

// NewZipf returns a generator over n ranks with skew theta (> 0).
func NewZipf(n int, theta float64) (*Zipf, error) {
	if n < 1 {
		return nil, fmt.Errorf("zipf: %d ranks: %w", n, ErrInvalidWorkload)
	}
	if !(theta > 0) || math.IsInf(theta, 0) {
		return nil, fmt.Errorf("zipf: skew %v must be > 0: %w", theta, ErrInvalidWorkload)
	}
	z := &Zipf{n: float64(n), theta: theta}
	z.hX1 = z.bigH(1.5) - 1
	z.hN = z.bigH(z.n + 0.5)
	z.squeezeLim = 2 - z.bigHInv(z.bigH(2.5)-z.h(2))
	return z, nil
}

// h is the unnormalised probability of integer x ≥ 1: x^-θ.
func (z *Zipf) h(x float64) float64 { return math.Exp(-z.theta * math.Log(x)) }

// bigH is the integral of h from 1 to x: (x^(1-θ) - 1)/(1-θ), computed as
// log x · expm1(t)/t with t = (1-θ)·log x, stable as θ → 1.
func (z *Zipf) bigH(x float64) float64 {
	lx := math.Log(x)
	return lx * expm1Ratio((1-z.theta)*lx)
}

// bigHInv inverts bigH: exp(y · log1p(t)/t) with t = (1-θ)·y.
func (z *Zipf) bigHInv(y float64) float64 {
	t := (1 - z.theta) * y
	if t < -1 {
		t = -1 // rounding guard: log1p(-1) is the edge of the domain
	}
	return math.Exp(y * log1pRatio(t))
}

// expm1Ratio is (e^t - 1)/t, 1 at t = 0.
func expm1Ratio(t float64) float64 {
	if math.Abs(t) < 1e-8 {
		return 1 + t/2*(1+t/3)
	}
	return math.Expm1(t) / t
}

// log1pRatio is log(1+t)/t, 1 at t = 0.
func log1pRatio(t float64) float64 {
	if math.Abs(t) < 1e-8 {
		return 1 - t/2*(1-2*t/3)
	}
	return math.Log1p(t) / t
}

// Rank draws a rank in [0, n) using r; rank 0 is the most popular.
func (z *Zipf) Rank(r *rand.Rand) int {
	// Rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-Inversion
	// to Generate Variates from Monotone Discrete Distributions", ACM TOMACS
	// 6(3), 1996), with the hat integral written as H(x) = (x^(1-θ) -
	// 1)/(1-θ), which has the limit log x at θ = 1 and so works for every
	// θ > 0. A draw picks a point u uniformly under the continuous hat x^-θ
	// between 1.5 and n+0.5, inverts H to x, rounds to the nearest integer k
	// and accepts k when u falls under the histogram bar of k; otherwise it
	// draws again. The expected number of draws is close to 1 and setup is
	// O(1), so key spaces of billions cost nothing. The samples follow the
	// exact Zipf law (unlike YCSB's Gray et al. approximation).
	for {
		u := z.hN + r.Float64()*(z.hX1-z.hN)
		x := z.bigHInv(u)
		k := math.Floor(x + 0.5)
		if k < 1 {
			k = 1
		} else if k > z.n {
			k = z.n
		}
		if k-x <= z.squeezeLim || u >= z.bigH(k+0.5)-z.h(k) {
			return int(k) - 1
		}
	}
}

// Probability returns the exact probability of rank k (0-based) under the
// Zipf law with this generator's n and θ. It costs O(n); tests use it.
func (z *Zipf) Probability(k int) float64 {
	var norm float64
	for i := 1; i <= int(z.n); i++ {
		norm += z.h(float64(i))
	}
	return z.h(float64(k+1)) / norm
}
