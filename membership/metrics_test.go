package membership

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/internal/testproc"
)

func TestMembershipMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := startMember(t, "a1", "a", func(c *Config) { c.Registerer = reg })
	startMember(t, "b1", "b", func(c *Config) { c.Join = []string{a.GossipAddr()}; c.State = "serving" })
	testproc.Eventually(t, 10*time.Second, "a sees b", func() bool { return len(a.Topology().Nodes) == 2 })
	want := `
# HELP zonecache_membership_members Members in this member's topology (itself included) by zone and advertised state.
# TYPE zonecache_membership_members gauge
zonecache_membership_members{state="serving",zone="b"} 1
zonecache_membership_members{state="warming",zone="a"} 1
# HELP zonecache_membership_isolated 1 while this member is cut off from most of the members it knows (its cache serves no hits).
# TYPE zonecache_membership_isolated gauge
zonecache_membership_isolated 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"zonecache_membership_members", "zonecache_membership_isolated"); err != nil {
		t.Error(err)
	}
	testproc.Eventually(t, 10*time.Second, "a in contact with b", func() bool {
		heard, known, _ := a.health.contact()
		return heard == 2 && known == 2
	})
	n, err := testutil.GatherAndCount(reg, "zonecache_membership_topology_epoch", "zonecache_membership_members_in_contact",
		"zonecache_membership_members_known", "zonecache_membership_gossip_health_score", "zonecache_membership_probe_failures_total",
		"zonecache_membership_held_dead")
	if err != nil || n != 6 {
		t.Errorf("gathered %d of the 6 other membership metrics: %v", n, err)
	}
	if e := a.Topology().Epoch; e == 0 {
		t.Error("topology epoch 0")
	}
	// A second member cannot register the same metrics.
	if _, err := Start(context.Background(), Config{NodeName: "c1", Zone: "c", CacheAddr: "127.0.0.1:9", Profile: "local",
		Registerer: reg, Logger: quiet()}); err == nil {
		t.Error("a second member registered the same metrics")
	}
}

func TestMemberlistLinesKeepTheirLevel(t *testing.T) {
	for _, c := range []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:1\n", slog.LevelDebug, "Stream connection from=127.0.0.1:1"},
		{"[INFO] memberlist: Suspect b1 has failed, no acks received", slog.LevelInfo, "Suspect b1 has failed, no acks received"},
		{"[WARN] memberlist: Refuting a suspect message (from: b1)", slog.LevelWarn, "Refuting a suspect message (from: b1)"},
		{"[ERR] memberlist: Failed to send gossip to x: boom", slog.LevelError, "Failed to send gossip to x: boom"},
		{"[ERR] Failed to shutdown transport: boom", slog.LevelError, "Failed to shutdown transport: boom"},
		{"no prefix at all", slog.LevelDebug, "no prefix at all"},
	} {
		level, msg := parseLogLine(c.line)
		if level != c.level || msg != c.msg {
			t.Errorf("parseLogLine(%q) = %v %q, want %v %q", c.line, level, msg, c.level, c.msg)
		}
	}
}

// Leaving logs no error, even when memberlist's gossip timer fires
// between its socket closing and the timer stopping; a probe that got no
// ack is counted.
func TestMemberlistLogAfterLeave(t *testing.T) {
	var buf bytes.Buffer
	a := startMember(t, "a1", "a", func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	sink := a.logSink()
	sink.Print("[INFO] memberlist: Suspect b1 has failed, no acks received")
	if v := testutil.ToFloat64(a.metrics.probeFailures); v != 1 {
		t.Errorf("probe failures = %v, want 1", v)
	}
	closed := "[ERR] memberlist: Failed to send gossip to 127.0.0.1:1: write udp: use of closed network connection"
	sink.Print(closed)
	if !strings.Contains(buf.String(), `"level":"ERROR"`) {
		t.Errorf("a closed socket while in the fleet is not an error:\n%s", buf.String())
	}
	_ = a.Leave(time.Second)
	buf.Reset()
	sink.Print(closed)
	if strings.Contains(buf.String(), "use of closed network connection") {
		t.Errorf("a closed socket after Leave logged at info or above:\n%s", buf.String())
	}
}
