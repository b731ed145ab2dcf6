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

// TestReshardCopyRuns runs `zonebench reshard-copy` small, on both kinds
// of node: every key of the source is planned and copied, once without a
// limit and once within --rate, each a row of the table.
func TestReshardCopyRuns(t *testing.T) {
	mc := testproc.RequireMemcached(t)
	for _, server := range []string{"zonecached", "memcached"} {
		t.Run(server, func(t *testing.T) {
			var out, errs bytes.Buffer
			args := []string{"reshard-copy", "--server", server, "--zonecached", testproc.ZonecachedBinary(t), "--memcached", mc,
				"--keys", "600", "--sizes", "100,4096", "--rate", "3000"}
			if code := run(context.Background(), args, &out, &errs, false); code != 0 {
				t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errs.String(), out.String())
			}
			rows := regexp.MustCompile(`(?m)^\s+(100|4096) B\s+(\d+)\s.*\s(none|3000)\s`).FindAllStringSubmatch(out.String(), -1)
			if len(rows) != 4 {
				t.Fatalf("%d rows, want 4 (2 sizes x unlimited and within --rate):\n%s", len(rows), out.String())
			}
			for _, r := range rows {
				// memcached's metadump may miss a few items moving between
				// its LRUs while it crawls; zonecached's lists them all.
				if n, _ := strconv.Atoi(r[2]); n != 600 && (server == "zonecached" || n < 594) {
					t.Errorf("%s B: %s keys planned and copied, want 600:\n%s", r[1], r[2], out.String())
				}
			}
			if !strings.Contains(out.String(), "CPU µs/key") {
				t.Errorf("no CPU per key:\n%s", out.String())
			}
		})
	}
}
