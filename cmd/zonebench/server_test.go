package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// TestServerBenchRuns runs `zonebench server` for a second per load with
// tiny settings, so the tool behind `make bench-server` cannot rot.
func TestServerBenchRuns(t *testing.T) {
	testproc.RequireMemcached(t)
	if _, err := exec.LookPath("memcaslap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("memcaslap is not installed (apt-get install libmemcached-tools)")
		}
		t.Skip("memcaslap not installed")
	}
	var out, errs bytes.Buffer
	args := []string{"server", "--zonecached", testproc.ZonecachedBinary(t), "--duration", "1s", "--rounds", "1",
		"-m", "64", "--conns", "4", "--mget-conns", "2", "--mget-depth", "2", "--mget-keys", "5", "--mget-keyspace", "50"}
	if code := run(context.Background(), args, &out, &errs, false); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errs.String(), out.String())
	}
	for _, want := range []string{"memcaslap -c 4", "multi-get 5 keys ×2, 2 conns"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), " ops/s "); n != 4 {
		t.Errorf("%d samples, want 4 (2 loads × 2 servers):\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), " zc/mc "); n != 2 {
		t.Errorf("%d ratio lines, want 2 (one per load):\n%s", n, out.String())
	}
}
