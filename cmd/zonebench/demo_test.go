package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// TestDemoLosesZoneWithoutCallerErrors runs `zonebench demo` for a few
// seconds: the report must show the event, traffic, and zero errors seen by
// callers.
func TestDemoLosesZoneWithoutCallerErrors(t *testing.T) {
	bin := testproc.ZonecachedBinary(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"demo", "--zonecached", bin, "--duration", "4s", "--concurrency", "4", "--keys", "500"},
		&out, &errOut, false)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	report := out.String()
	if !strings.Contains(report, "zone a lost") {
		t.Fatalf("report does not mark the lost zone:\n%s", report)
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
}
