package serverbench

import (
	"errors"
	"testing"
	"time"
)

// memcaslapTail is the end of memcaslap 1.0's output with -S (trimmed).
const memcaslapTail = `Total Statistics (140283 events)
   Min:        19
   Max:     55532
   Avg:       715
   Geo:    348.18
   Std:   1973.73
   Log2 Dist:
       4:        0       26      939    12944
       8:    40199    53246    19703     5121
      12:     3645     2593     1525      304
      16:       38

cmd_get: 126279
cmd_set: 14054

Run time: 2.0s Ops: 140333 TPS: 70064 Net_rate: 16.6M/s`

func TestParseMemcaslap(t *testing.T) {
	ms, err := parseMemcaslap([]byte(memcaslapTail))
	if err != nil {
		t.Fatal(err)
	}
	if ms.Ops != 140333 || ms.Elapsed != 2*time.Second {
		t.Errorf("ops %d in %v, want 140333 in 2s", ms.Ops, ms.Elapsed)
	}
	// Rank 0.99 × 140283 = 138880 falls in bucket 14 ([16384, 32768) µs):
	// 138416 below it, 1525 in it, so 2^(14 + 464/1525) µs = 20.2 ms.
	if want := 20232 * time.Microsecond; ms.P99.Round(time.Millisecond/10) != want.Round(time.Millisecond/10) {
		t.Errorf("p99 %v, want %v", ms.P99, want)
	}
}

func TestParseMemcaslapWithoutHistogram(t *testing.T) {
	_, err := parseMemcaslap([]byte("Run time: 2.0s Ops: 140333 TPS: 70064 Net_rate: 16.6M/s"))
	if !errors.Is(err, errParse) {
		t.Errorf("err = %v, want errParse", err)
	}
}

func TestLog2QuantileInterpolatesWithinTheBucket(t *testing.T) {
	hist := []int64{0, 0, 0, 50, 50} // half in [8, 16) µs, half in [16, 32)
	for q, want := range map[float64]time.Duration{0.5: 16 * time.Microsecond, 0.75: 22627 * time.Nanosecond, 1: 32 * time.Microsecond} {
		if got := log2Quantile(hist, q); got.Round(time.Microsecond) != want.Round(time.Microsecond) {
			t.Errorf("q %v: %v, want %v", q, got, want)
		}
	}
}
