package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Many draws for one step are spread over [d/2, d], not equal: processes
// retrying after the same failure do not retry together.
func TestJitterSpreadsWaits(t *testing.T) {
	const d, n = time.Second, 1000
	seen := map[time.Duration]bool{}
	lo, hi := d, time.Duration(0)
	for range n {
		w := Jitter(d)
		if w < d/2 || w > d {
			t.Fatalf("Jitter(%v) = %v, outside [%v, %v]", d, w, d/2, d)
		}
		seen[w] = true
		lo, hi = min(lo, w), max(hi, w)
	}
	if len(seen) < n*9/10 {
		t.Fatalf("%d distinct waits in %d draws: not spread", len(seen), n)
	}
	if lo > d*6/10 || hi < d*9/10 {
		t.Fatalf("waits span only [%v, %v] of [%v, %v]", lo, hi, d/2, d)
	}
}

func TestExpDoublesToMaxAndResets(t *testing.T) {
	e := Exp{Min: 100 * time.Millisecond, Max: time.Second}
	for i, step := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		step *= time.Millisecond
		if w := e.Next(); w < step/2 || w > step {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, w, step/2, step)
		}
	}
	e.Reset()
	if w := e.Next(); w > 100*time.Millisecond {
		t.Fatalf("after Reset: %v, want at most Min", w)
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a short sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("a sleep whose context ended: %v, want context.Canceled", err)
	}
}
