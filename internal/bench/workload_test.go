package bench

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
)

func TestParseMix(t *testing.T) {
	good := map[string]Mix{
		"get=90,set=10":                {Get: 90, Set: 10},
		" GET = 1 , del=2,multiget=3 ": {Get: 1, Delete: 2, MultiGet: 3},
		"mget=1":                       {MultiGet: 1},
		"get=0,set=5,delete=0":         {Set: 5},
	}
	for in, want := range good {
		got, err := ParseMix(in)
		if err != nil || got != want {
			t.Errorf("ParseMix(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := ParseMix(got.String()); err != nil || again != got {
			t.Errorf("ParseMix(%q.String()=%q) = %+v, %v", in, got.String(), again, err)
		}
	}
	for _, in := range []string{"", "get", "get=", "get=-1", "get=x", "put=3", "get=0", "get=1,get=2", "get=1,,set=1", "get=99999999999"} {
		if _, err := ParseMix(in); !errors.Is(err, ErrInvalidWorkload) {
			t.Errorf("ParseMix(%q) err %v, want ErrInvalidWorkload", in, err)
		}
	}
}

func TestParseSizeRange(t *testing.T) {
	good := map[string]SizeRange{"100": {100, 100}, "64-1024": {64, 1024}, " 0 - 10 ": {0, 10}, "1048576": {MaxValueSize, MaxValueSize}}
	for in, want := range good {
		if got, err := ParseSizeRange(in); err != nil || got != want {
			t.Errorf("ParseSizeRange(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-", "x", "10-5", "-5", "1048577", "1-2-3", "5-"} {
		if _, err := ParseSizeRange(in); !errors.Is(err, ErrInvalidWorkload) {
			t.Errorf("ParseSizeRange(%q) err %v, want ErrInvalidWorkload", in, err)
		}
	}
}

func TestWorkloadDefaults(t *testing.T) {
	w := Workload{}.WithDefaults()
	if w.Keys != DefaultKeys || w.KeySize != DefaultKeySize || w.Dist != Uniform || w.Mix != (Mix{Get: 90, Set: 10}) ||
		w.ValueSize != (SizeRange{100, 100}) || w.Batch != DefaultBatch || w.Seed != 1 || w.TTL != 0 {
		t.Fatalf("defaults %+v", w)
	}
	// A key count that needs more digits than the default size gets longer keys.
	if w := (Workload{Keys: 1e15}).WithDefaults(); w.KeySize != 16 {
		t.Fatalf("key size for 1e15 keys: %d", w.KeySize)
	}
	if err := (Workload{Keys: 100, TTL: -time.Second}).Validate(); !errors.Is(err, ErrInvalidWorkload) {
		t.Fatalf("negative ttl accepted: %v", err)
	}
}

func TestExptime(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for ttl, want := range map[time.Duration]int32{
		0: 0, -time.Second: 0, time.Millisecond: 1, time.Second: 1, 90 * time.Second: 90,
		30 * 24 * time.Hour: 30 * 24 * 3600, 31 * 24 * time.Hour: int32(now.Unix()) + 31*24*3600,
	} {
		if got := Exptime(ttl, now); got != want {
			t.Errorf("Exptime(%v) = %d, want %d", ttl, got, want)
		}
	}
}

func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"get=90,set=10", "get=1,mget=2,del=3", "", "get=", "set=0", "x=1", "get=1,get=1", "GET=5, Set = 7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMix(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidWorkload) {
				t.Fatalf("ParseMix(%q) error %v does not wrap ErrInvalidWorkload", s, err)
			}
			return
		}
		if m.IsZero() || m.Get < 0 || m.Set < 0 || m.Delete < 0 || m.MultiGet < 0 {
			t.Fatalf("ParseMix(%q) = %+v", s, m)
		}
		again, err := ParseMix(m.String())
		if err != nil || again != m {
			t.Fatalf("round trip of %q: %+v → %q → %+v, %v", s, m, m.String(), again, err)
		}
	})
}

func FuzzParseSizeRange(f *testing.F) {
	for _, s := range []string{"100", "64-1024", "0", "1048576", "10-5", "-", " 3 - 4 ", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseSizeRange(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidWorkload) {
				t.Fatalf("ParseSizeRange(%q) error %v does not wrap ErrInvalidWorkload", s, err)
			}
			return
		}
		if r.Min < 0 || r.Min > r.Max || r.Max > MaxValueSize {
			t.Fatalf("ParseSizeRange(%q) = %+v", s, r)
		}
		if again, err := ParseSizeRange(r.String()); err != nil || again != r {
			t.Fatalf("round trip of %q: %+v → %+v, %v", s, r, again, err)
		}
	})
}

// TestWorkloadZipfKeysFollowLaw checks the keys a zipf workload sends to
// its target, not only the generator's ranks: key index k is rank k+1, and
// its frequency follows the Zipf law of the workload's skew.
func TestWorkloadZipfKeysFollowLaw(t *testing.T) {
	const keys, ops, skew = 1000, 300_000, 0.99
	counts := make([]int, keys)
	var stray []string
	f := newFake(0)
	f.observe = func(ks []string) {
		for _, k := range ks {
			if i, err := strconv.Atoi(k[1:]); err == nil && i >= 0 && i < keys {
				counts[i]++
			} else {
				stray = append(stray, k)
			}
		}
	}
	// One worker: one seeded random stream, so the test is deterministic.
	cfg := Config{Workload: Workload{Keys: keys, Dist: Zipfian, Skew: skew, Mix: Mix{Get: 90, Set: 10}},
		Concurrency: 1, Ops: ops}
	res, err := Run(context.Background(), cfg, "zipf", f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != ops || len(stray) > 0 {
		t.Fatalf("ops %d, want %d; keys outside the key space: %q", res.Ops, ops, stray)
	}
	chi2, df := zipfLawChiSquare(counts, skew, 50)
	t.Logf("chi-square %.1f, critical %.1f (df %d)", chi2, chi2Critical(df), df)
	if crit := chi2Critical(df); chi2 > crit {
		t.Errorf("key frequencies: chi-square %.1f > critical %.1f (df %d) against zipf θ=%g", chi2, crit, df, skew)
	}
	// The most popular key is 10^θ times as frequent as the tenth.
	if ratio, want := float64(counts[0])/float64(counts[9]), math.Pow(10, skew); math.Abs(ratio-want)/want > 0.1 {
		t.Errorf("count(key 0)/count(key 9) = %.2f, want %.2f ± 10%%", ratio, want)
	}
	// The test tells close skews apart: the same keys are far from θ=0.9.
	if chi2, df := zipfLawChiSquare(counts, 0.9, 50); chi2 < chi2Critical(df) {
		t.Errorf("chi-square %.1f against θ=0.9 is below critical %.1f: the test cannot tell the skews apart", chi2, chi2Critical(df))
	}
}
