package serverbench

import (
	"strings"
	"testing"
	"time"
)

func TestWriteSummaryRatiosAreZonecachedOverMemcached(t *testing.T) {
	sample := func(server string, round int, ops int64, cpu time.Duration) Sample {
		return Sample{Load: "L", Server: server, Round: round, ServerCPU: cpu,
			Measure: Measure{Ops: ops, Elapsed: time.Second, P99: time.Millisecond}}
	}
	samples := []Sample{
		sample(Memcached, 1, 1000, 10*time.Millisecond), sample(Zonecached, 1, 500, 10*time.Millisecond),
		sample(Zonecached, 2, 2000, 10*time.Millisecond), sample(Memcached, 2, 1000, 10*time.Millisecond),
	}
	var b strings.Builder
	if err := WriteSummary(&b, samples); err != nil {
		t.Fatal(err)
	}
	// TPS ratios 0.5 and 2.0 (median 1.25); CPU/op ratios 2.0 and 0.5.
	for _, want := range []string{"1.25× [0.50–2.00]", "1.00× [1.00–1.00]"} {
		if strings.Count(b.String(), want) == 0 {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
