package bench

import (
	"errors"
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
