package consistency

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Failed reports whether the result fails the check: stale reads, lost
// writes, or caller errors beyond Expected (no fault takes away more than
// one zone, so only policy all expects errors, in the fault phase).
func (res Result) Failed() bool {
	return res.Stale > 0 || res.Lost > 0 || res.Errors > res.Expected
}

// WriteTo prints the report of one fault.
func (rep *Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	res := rep.Result
	fmt.Fprintf(&b, "== %s on %s ==\n", rep.Fault, rep.Server)
	if rep.Schedule != "" {
		fmt.Fprintf(&b, "schedule: %s\n", rep.Schedule)
	}
	for _, e := range rep.Evidence {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	fmt.Fprintf(&b, "writes: %d issued, %d acknowledged; reads: %d\n", res.Writes, res.Acked, res.Reads)
	fmt.Fprintf(&b, "stale reads: %d", res.Stale)
	if res.Stale > 0 {
		fmt.Fprintf(&b, " (oldest: %d versions behind, %v after it was overwritten; by zone %s; by phase %s",
			res.OldestVersions, res.OldestAge.Round(time.Millisecond), counts(res.StaleByZone), counts(res.StaleByPhase))
		if res.Bogus > 0 {
			fmt.Fprintf(&b, "; %d never written", res.Bogus)
		}
		b.WriteString(")")
	}
	if res.InFlight > 0 {
		fmt.Fprintf(&b, "; %d began after the acknowledgement while the newer write was still in flight to a replica", res.InFlight)
	}
	if res.WithinWindow > 0 {
		fmt.Fprintf(&b, "; %d more allowed by the convergence window", res.WithinWindow)
	}
	if res.Stale > 0 {
		fmt.Fprintf(&b, "\n  %d answered by another zone (fallback), %d after an acknowledged delete", res.Fallback, res.Deleted)
		for _, c := range causeCounts(res.Causes) {
			fmt.Fprintf(&b, "\n  cause: %s", c)
		}
		for _, s := range res.StaleSamples {
			fmt.Fprintf(&b, "\n  e.g. %s", s)
		}
	}
	fmt.Fprintf(&b, "\nlost writes: %d", res.Lost)
	if res.Lost > 0 {
		fmt.Fprintf(&b, " (e.g. %s)", strings.Join(res.LostKeys, ", "))
	}
	if res.Unverified > 0 {
		fmt.Fprintf(&b, "; %d keys unverified (every verify read failed)", res.Unverified)
	}
	fmt.Fprintf(&b, "\ncaller errors: %d", res.Errors)
	if res.Errors > 0 {
		fmt.Fprintf(&b, " (by phase %s", counts(res.ErrorsByPhase))
		if res.Expected > 0 {
			fmt.Fprintf(&b, "; %d expected: write policy not met while the fault took a replica it needs", res.Expected)
		}
		b.WriteString(")")
		for _, s := range res.ErrorSamples {
			fmt.Fprintf(&b, "\n  %s", s)
		}
	}
	fmt.Fprintf(&b, "\n%s %s/%s: %d stale reads, %d lost writes, %d caller errors\n\n",
		verdict(res.Failed()), rep.Fault, rep.Server, res.Stale, res.Lost, res.Errors)
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func verdict(failed bool) string {
	if failed {
		return "NOT OK"
	}
	return "OK"
}

// counts prints a map as "a=3 b=1", sorted by key.
func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// Summary is the last line of a checker run over several reports.
func Summary(reps []*Report) string {
	var stale, lost, errs int
	for _, r := range reps {
		stale += r.Result.Stale
		lost += r.Result.Lost
		errs += r.Result.Errors
	}
	return fmt.Sprintf("CONSISTENCY: %d stale reads, %d lost writes, %d caller errors", stale, lost, errs)
}
