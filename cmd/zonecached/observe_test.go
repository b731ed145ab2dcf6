package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/internal/testproc"
)

func TestVersionFlag(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"--version"}, &out, &errs); code != 0 {
		t.Fatalf("--version: exit %d, %s", code, errs.String())
	}
	if !strings.HasPrefix(out.String(), "zonecached ") || !strings.Contains(out.String(), "go1.") {
		t.Fatalf("--version printed %q, want zonecached VERSION (revision R, goVERSION)", out.String())
	}
	if code := run([]string{"--log-format", "xml"}, &out, &errs); code != 2 {
		t.Fatalf("--log-format xml: exit %d, want 2", code)
	}
}

// A fleet node logs JSON with --log-format json, memberlist's lines
// included; it exposes the build and membership metrics; and SIGTERM, with
// a peer still gossiping to it, logs no error.
func TestFleetNodeLogsJSONAndStopsWithoutError(t *testing.T) {
	gossipA, adminA := freeAddr(t), freeAddr(t)
	a := testproc.StartZonecached(t, "--zone", "a", "--node-name", "a-1", "--gossip-addr", gossipA, "--admin-addr", adminA,
		"--gossip-profile", "local", "--log-format", "json", "-v", "--drain-timeout", "1s")
	testproc.StartZonecached(t, "--zone", "b", "--node-name", "b-1", "--gossip-addr", freeAddr(t), "--join", gossipA,
		"--gossip-profile", "local")
	testproc.Eventually(t, 30*time.Second, "a sees b", func() bool {
		top, err := admin.New(adminA).Topology(context.Background())
		return err == nil && len(top.Nodes) == 2
	})
	resp, err := http.Get("http://" + adminA + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`zonecache_build_info{goversion="go1.`, `zonecache_membership_members{state="serving",zone="b"} 1`,
		"zonecache_membership_topology_epoch ", "zonecache_membership_isolated 0", "zonecache_membership_gossip_health_score "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := a.Terminate(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, a.Output())
	}
	memberlistLines := 0
	for _, line := range strings.Split(strings.TrimSpace(a.Output()), "\n") {
		var rec struct{ Level, Msg, Source string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		if rec.Level == "ERROR" {
			t.Errorf("error logged by a clean shutdown: %s", line)
		}
		if rec.Source == "memberlist" {
			memberlistLines++
			if strings.HasPrefix(rec.Msg, "[") || strings.HasPrefix(rec.Msg, "memberlist:") {
				t.Errorf("memberlist line keeps its prefix: %s", line)
			}
		}
	}
	if memberlistLines == 0 {
		t.Errorf("no memberlist line at debug level:\n%s", a.Output())
	}
}
