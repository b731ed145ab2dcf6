package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/testproc"
)

// runScenario runs `zonebench demo --scenario name` for duration (with
// extra flags) and returns its report after checking the exit code, that
// there was traffic and that callers saw no errors.
func runScenario(t *testing.T, name, duration string, extra ...string) string {
	t.Helper()
	bin := testproc.ZonecachedBinary(t)
	var out, errOut bytes.Buffer
	args := append([]string{"demo", "--scenario", name, "--zonecached", bin,
		"--duration", duration, "--concurrency", "4", "--keys", "500"}, extra...)
	code := run(context.Background(), args, &out, &errOut, false)
	report := out.String()
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, report, errOut.String())
	}
	// The summary row: target, ops, ops/s, p50, p90, p99, p99.9, max, hit%, errors.
	row := regexp.MustCompile(`client in zone a\)\s+(\d+)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)\s`).FindStringSubmatch(report)
	if row == nil {
		t.Fatalf("no summary row in:\n%s", report)
	}
	if row[1] == "0" {
		t.Fatalf("the demo made no operations:\n%s", report)
	}
	if row[2] != "0" {
		t.Fatalf("callers saw %s errors:\n%s", row[2], report)
	}
	if !strings.Contains(report, "per second, by zone") {
		t.Fatalf("no per-zone series in:\n%s", report)
	}
	return report
}

// wantEvents checks that every label is reported as an event that ran
// without error.
func wantEvents(t *testing.T, report string, labels ...string) {
	t.Helper()
	for _, l := range labels {
		re := regexp.MustCompile(`(?m)^event .* at [0-9.]+s: ` + regexp.QuoteMeta(l) + `.*$`)
		line := re.FindString(report)
		if line == "" {
			t.Fatalf("no event %q in:\n%s", l, report)
		}
		if strings.Contains(line, "(error:") {
			t.Fatalf("event failed: %s\n%s", line, report)
		}
	}
}

// TestDemoReplacesNodeWithoutCallerErrors: a-1 is killed, a-3 starts
// warming, is warmed from zone b (copying items) and promoted; callers see
// no errors.
func TestDemoReplacesNodeWithoutCallerErrors(t *testing.T) {
	// Long enough for the fleet to declare a-1 dead (a few seconds) before
	// the run ends.
	report := runScenario(t, scenarioNodeReplaced, "18s")
	wantEvents(t, report, "a-1 killed", "a-3 started (warming)", "a-3 in the client's topology",
		"a-3 warmed from zone b", "a-1 declared dead", "a-3 promoted to serving", "a-3 serving in the client's topology")
	m := regexp.MustCompile(`warmed a-3: copied (\d+)`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no warm-up line in:\n%s", report)
	}
	if n, _ := strconv.Atoi(m[1]); n <= 0 {
		t.Fatalf("the warm-up copied %s items:\n%s", m[1], report)
	}
}

// TestDemoSlowNodeWithoutCallerErrors: a-1 behind the fault proxy turns
// slow, then hung; callers see no errors, the proxy delayed responses, and
// once a-1 hangs (its responses 2 s late, beyond the client's 500 ms
// timeout) zone a counts errors and reads fall back from it to another zone.
func TestDemoSlowNodeWithoutCallerErrors(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	report := runScenario(t, scenarioSlowNode, "6s", "--json", jsonPath)
	wantEvents(t, report, "a-1 slow", "a-1 hung")
	m := regexp.MustCompile(`fault proxy: (\d+) responses of a-1 delayed`).FindStringSubmatch(report)
	if m == nil || m[1] == "0" {
		t.Fatalf("the proxy delayed nothing:\n%s", report)
	}

	var rep struct {
		Targets []struct {
			Series []struct {
				T     float64           `json:"t_s"`
				Zones []bench.ZoneStats `json:"zones"`
			} `json:"series"`
			Events []struct {
				T     float64 `json:"t_s"`
				Label string  `json:"label"`
			} `json:"events"`
		} `json:"targets"`
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil || len(rep.Targets) != 1 {
		t.Fatalf("json report: %v\n%s", err, data)
	}
	tr := rep.Targets[0]
	hung := -1.0
	for _, e := range tr.Events {
		if strings.HasPrefix(e.Label, "a-1 hung") {
			hung = e.T
		}
	}
	if hung < 0 {
		t.Fatalf("no hung event in the json report: %+v", tr.Events)
	}
	// Every request to a-1 from then on times out (or meets the open
	// breaker), and each was a read that fell back or a write that failed;
	// the run waits for the requests in flight, so they are all counted.
	var after bench.ZoneStats
	for _, p := range tr.Series {
		if p.T <= hung {
			continue
		}
		for _, z := range p.Zones {
			if z.Zone == "a" {
				after.Requests += z.Requests
				after.Errors += z.Errors
				after.Fallbacks += z.Fallbacks
			}
		}
	}
	if after.Errors == 0 || after.Fallbacks == 0 {
		t.Fatalf("zone a after a-1 hung at %.1fs: %+v, want errors and fallbacks\n%s", hung, after, report)
	}
}

func TestDemoRejectsUnknownScenario(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--scenario", "meteor"}, &out, &errOut, false); code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "zone-lost, node-replaced, slow-node") {
		t.Fatalf("the error does not list the scenarios:\n%s", errOut.String())
	}
}

func TestDemoHelpDocumentsScenarios(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"demo", "-h"}, &out, &errOut, false); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := out.String() + errOut.String()
	for _, s := range []string{"-scenario", "zone-lost", "node-replaced", "slow-node"} {
		if !strings.Contains(help, s) {
			t.Fatalf("help lacks %q:\n%s", s, help)
		}
	}
}
