package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// runScenario runs `zonebench demo --scenario name` for duration and
// returns its report after checking the exit code, that there was traffic
// and that callers saw no errors.
func runScenario(t *testing.T, name, duration string) string {
	t.Helper()
	bin := testproc.ZonecachedBinary(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"demo", "--scenario", name, "--zonecached", bin,
		"--duration", duration, "--concurrency", "4", "--keys", "500"}, &out, &errOut, false)
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
// slow, then hung; callers see no errors and the proxy delayed responses.
func TestDemoSlowNodeWithoutCallerErrors(t *testing.T) {
	report := runScenario(t, scenarioSlowNode, "6s")
	wantEvents(t, report, "a-1 slow", "a-1 hung")
	m := regexp.MustCompile(`fault proxy: (\d+) responses of a-1 delayed`).FindStringSubmatch(report)
	if m == nil || m[1] == "0" {
		t.Fatalf("the proxy delayed nothing:\n%s", report)
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
