package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/consistency"
	"github.com/zonecache/zonecache/internal/testproc"
)

func TestConsistencyFlagsDefaultsAndErrors(t *testing.T) {
	o, err := parseConsistencyFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.faults) != len(consistency.Faults) || len(o.servers) != 2 || o.window != 0 || o.seed != 1 {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = parseConsistencyFlags([]string{"--faults", "sigstop,kill9,sigstop", "--servers", "memcached", "--window", "5ms"}, io.Discard)
	if err != nil || len(o.faults) != 2 || o.faults[0] != consistency.Freeze || o.servers[0] != consistency.Memcached {
		t.Fatalf("parsed %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"--faults", "meteor"}, {"--servers", "redis"}, {"--policy", "most"}, {"--netns", "maybe"}, {"--window", "-1s"}, {"extra"}} {
		if _, err := parseConsistencyFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestConsistencyHelpListsEveryFlagAndFault(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseConsistencyFlags([]string{"-h"}, &out); err != flag.ErrHelp {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-short", "-faults", "-servers", "-duration", "-seed", "-window", "-allow-in-flight", "-settle", "-keys", "-policy", "-netns", "-zonecached", "-memcached"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h does not list %s", want)
		}
	}
	for _, f := range consistency.Faults {
		if !strings.Contains(out.String(), "  "+string(f)+" ") {
			t.Errorf("-h does not describe fault %s", f)
		}
	}
}

func TestConsistencyWriterRefusesABadSpec(t *testing.T) {
	if code := run(context.Background(), []string{writerSubcommand, "{"}, io.Discard, io.Discard, false); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

// summaryLine is the checker's last line.
var summaryLine = regexp.MustCompile(`^CONSISTENCY: (\d+) stale reads, (\d+) lost writes, (\d+) caller errors$`)

// TestConsistencyCommandEndsWithTheSummary runs the short form of one fault
// through the command and checks its last line and that the exit code
// agrees with it.
func TestConsistencyCommandEndsWithTheSummary(t *testing.T) {
	testproc.RequireMemcached(t)
	var out bytes.Buffer
	code := run(context.Background(), []string{"consistency", "--short", "--faults", "kill9", "--servers", "memcached"}, &out, io.Discard, false)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	m := summaryLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q is not the summary:\n%s", lines[len(lines)-1], out.String())
	}
	clean := m[1] == "0" && m[2] == "0" && m[3] == "0"
	if (code == 0) != clean {
		t.Fatalf("exit %d with %q", code, m[0])
	}
	if !strings.Contains(out.String(), "== kill9 on memcached ==") || !strings.Contains(out.String(), "killed with SIGKILL") {
		t.Fatalf("no report of the fault:\n%s", out.String())
	}
}
