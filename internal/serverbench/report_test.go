package serverbench

import (
	"strings"
	"testing"
	"time"
)

func TestWriteSummaryRatiosAreZonecachedOverMemcached(t *testing.T) {
	sample := func(server string, round int, ops int64, cpu time.Duration) Sample {
		return Sample{Load: "L", Server: server, Round: round, ServerUser: cpu,
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

// TestWriteSummaryHasWhereTheCPUGoes: the user and system parts of the CPU
// per operation and the switches per operation, each server's and their
// ratios.
func TestWriteSummaryHasWhereTheCPUGoes(t *testing.T) {
	sample := func(server string, user, system time.Duration, switches int64) Sample {
		return Sample{Load: "L", Server: server, Round: 1, ServerUser: user, ServerSystem: system,
			ServerSwitches: switches, Measure: Measure{Ops: 1000, Elapsed: time.Second, P99: time.Millisecond}}
	}
	samples := []Sample{sample(Memcached, 2*time.Millisecond, 8*time.Millisecond, 250),
		sample(Zonecached, 5*time.Millisecond, 6*time.Millisecond, 100)}
	var b strings.Builder
	if err := WriteSummary(&b, samples); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// user 2 µs and 5 µs per op (2.50×), system 8 and 6 (0.75×),
	// switches 0.25 and 0.1 per op (0.40×).
	for _, want := range []string{"user/op", "switches/op", "2µs", "5µs", "0.250", "0.100",
		"2.50× [2.50–2.50]", "0.75× [0.75–0.75]", "0.40× [0.40–0.40]"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	var line strings.Builder
	WriteSample(&line, samples[1])
	if !strings.Contains(line.String(), "user 5µs, system 6µs, 0.100 switches") {
		t.Errorf("sample line %q lacks the user, system and switches per op", line.String())
	}
}
