package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: log-linear buckets in the style of HdrHistogram. Values
// below 2^histPrecision are counted exactly, one bucket each. Above that,
// every power-of-two range [2^k, 2^(k+1)) is split into 2^histPrecision
// equal sub-buckets, so a bucket's width is at most 1/2^histPrecision of its
// lower bound.
const (
	histPrecision = 7                  // sub-bucket bits: 128 sub-buckets per octave
	histSub       = 1 << histPrecision // 128
	// histBits bounds the values counted with bounded error to below
	// 2^histBits (2^40 ns is about 18 minutes); larger values count in the
	// top bucket, though Max stays exact. The largest shift is
	// histBits-histPrecision-1 and the largest mantissa 2*histSub-1.
	histBits    = 40
	histBuckets = (histBits-histPrecision-1)*histSub + 2*histSub
)

// MaxTrackable is the largest value a Histogram counts with bounded
// relative error (about 18 minutes in nanoseconds); larger values are
// counted as MaxTrackable, though Max reports them exactly.
const MaxTrackable = 1<<histBits - 1

// MaxRelativeError bounds the relative error of any value a Histogram
// reports (Percentile, Quantiles): a bucket is at most 1/128 of its lower
// bound wide and the reported value is the bucket's midpoint, so the reported
// value is within 1/256 (0.39 %) of every value counted in that bucket.
const MaxRelativeError = 1.0 / (2 * histSub)

// Histogram counts non-negative int64 values (latencies in nanoseconds) up
// to MaxTrackable with bounded relative error (MaxRelativeError). Record does not allocate. It is
// not safe for concurrent use: give each worker its own Histogram and Merge
// them. The zero value is not usable; call NewHistogram.
type Histogram struct {
	counts []uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
	// lo and hi bound the indexes that hold counts, so Reset and Merge skip
	// the empty tail.
	lo, hi int
}

// NewHistogram returns an empty Histogram (about 34 KiB).
func NewHistogram() *Histogram {
	h := &Histogram{counts: make([]uint64, histBuckets)}
	h.clearStats()
	return h
}

func (h *Histogram) clearStats() {
	h.total, h.sum = 0, 0
	h.min, h.max = math.MaxInt64, 0
	h.lo, h.hi = histBuckets, -1
}

// bucketOf returns the bucket index of v (v ≥ 0).
func bucketOf(v int64) int {
	u := uint64(v)
	if u < histSub {
		return int(u)
	}
	shift := bits.Len64(u) - histPrecision - 1
	return shift*histSub + int(u>>uint(shift))
}

// bucketBounds returns the smallest value of bucket i and its width.
func bucketBounds(i int) (lo int64, width int64) {
	if i < 2*histSub {
		return int64(i), 1
	}
	shift := i/histSub - 1
	mant := int64(i - shift*histSub)
	return mant << uint(shift), int64(1) << uint(shift)
}

// Record counts one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	i := bucketOf(min(v, MaxTrackable))
	h.counts[i]++
	h.total++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	if i < h.lo {
		h.lo = i
	}
	if i > h.hi {
		h.hi = i
	}
}

// RecordDuration counts d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds every count of o to h. o is not changed.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i := o.lo; i <= o.hi; i++ {
		h.counts[i] += o.counts[i]
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
	h.lo = min(h.lo, o.lo)
	h.hi = max(h.hi, o.hi)
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	if h.total > 0 {
		clear(h.counts[h.lo : h.hi+1])
	}
	h.clearStats()
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Min returns the smallest recorded value exactly, or 0 when empty.
func (h *Histogram) Min() int64 {
	if h.total == 0 {
		return 0
	}
	return h.min
}

// Max returns the largest recorded value exactly, or 0 when empty.
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the exact mean of the recorded values, or 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Percentile returns the nearest-rank q-quantile (q in [0, 1]; 0.99 is p99):
// the value v such that ceil(q·Count) recorded values are ≤ v, within
// MaxRelativeError. It returns 0 when h is empty. Percentile(1) is Max.
func (h *Histogram) Percentile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i := h.lo; i <= h.hi; i++ {
		seen += h.counts[i]
		if seen >= rank {
			lo, w := bucketBounds(i)
			v := lo + (w-1)/2
			// The exact min and max are known: never report past them.
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
