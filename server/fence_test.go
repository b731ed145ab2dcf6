package server

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// An isolated node serves no hits: get, gets, gat, mg, me, incr and append
// find nothing although the item is held; once it is back, the store has
// been flushed, so nothing written before or during the isolation is
// served, and the invalidation is counted.
func TestIsolatedNodeServesNoHitsAndFlushesOnReturn(t *testing.T) {
	s, addr := startServer(t, Config{PauseBound: time.Hour, RejoinQuarantine: -1})
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	c := dial(t, addr)
	if got := c.do("set k 0 0 1\r\n1\r\nset n 0 0 1\r\n5\r\n"); got != "STORED\r\nSTORED\r\n" {
		t.Fatalf("set: %q", got)
	}
	if got := c.do("get k\r\n"); got != "VALUE k 0 1\r\n1\r\nEND\r\n" {
		t.Fatalf("get before isolation: %q", got)
	}
	s.SetIsolated(true)
	for cmd, want := range map[string]string{
		"get k\r\n":               "END\r\n",
		"gets k\r\n":              "END\r\n",
		"gat 0 k\r\n":             "END\r\n",
		"mg k v\r\n":              "EN\r\n",
		"me k\r\n":                "EN\r\n",
		"incr n 1\r\n":            "NOT_FOUND\r\n",
		"append k 0 0 1\r\nx\r\n": "SERVER_ERROR node cut off from its fleet\r\n",
		"touch k 0\r\n":           "NOT_FOUND\r\n",
	} {
		if got := c.do(cmd); got != want {
			t.Errorf("isolated: %q answered %q, want %q", cmd, got, want)
		}
	}
	// A write is refused while isolated: it could be neither served nor
	// kept, and a client must not count it as acknowledged.
	if got := c.do("set k 0 0 1\r\n2\r\nms k 1\r\n2\r\nget k\r\n"); got != "SERVER_ERROR node cut off from its fleet\r\nSERVER_ERROR node cut off from its fleet\r\nEND\r\n" {
		t.Fatalf("set, ms and get while isolated: %q", got)
	}
	s.SetIsolated(false)
	// A connection opened before the return is closed without running
	// what it sends: it may carry writes sent before the node was cut off.
	c.send("set k 0 0 1\r\n9\r\n")
	if out, closed := c.closed(); !closed || out != "" {
		t.Fatalf("old connection after the return: closed %v, answered %q", closed, out)
	}
	c = dial(t, addr)
	if got := c.do("get k n\r\nmg k v\r\n"); got != "END\r\nEN\r\n" {
		t.Fatalf("after the return: %q, want misses (flushed)", got)
	}
	if got := c.do("set k 0 0 1\r\n3\r\nget k\r\n"); got != "STORED\r\nVALUE k 0 1\r\n3\r\nEND\r\n" {
		t.Fatalf("after the return, a new write: %q", got)
	}
	_, body := get(t, admin.URL+"/metrics")
	for _, want := range []string{`zonecache_server_invalidations_total{cause="isolation"} 1`,
		`zonecache_server_invalidations_total{cause="pause"} 0`, "zonecache_server_isolated 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// After an invalidation the node serves no hits for the quarantine, while
// storage commands apply to what is really stored: a writer whose breaker
// of the node is still open cannot overwrite what another client stored
// meanwhile, so that value may be older than an acknowledged write. Once
// the quarantine ends, hits are served, never before.
func TestReturnedNodeServesNoHitsDuringQuarantine(t *testing.T) {
	const quarantine = 300 * time.Millisecond
	for _, invalidate := range []struct {
		name string
		do   func(*Server)
	}{
		{"isolation", func(s *Server) { s.SetIsolated(true); s.SetIsolated(false) }},
		{"refuted", func(s *Server) { s.InvalidateAll(CauseRefuted) }},
	} {
		t.Run(invalidate.name, func(t *testing.T) {
			long, longAddr := startServer(t, Config{PauseBound: time.Hour, RejoinQuarantine: time.Hour})
			invalidate.do(long)
			c := dial(t, longAddr)
			// In order: each answer depends on the one before.
			for _, step := range [][2]string{
				{"set k 0 0 1\r\n1\r\n", "STORED\r\n"},
				{"get k\r\n", "END\r\n"},
				{"mg k v\r\n", "EN\r\n"},
				{"gats 0 k\r\n", "END\r\n"},
				{"add k 0 0 1\r\n0\r\n", "NOT_STORED\r\n"}, // a read repair must not replace the write
				{"append k 0 0 1\r\n2\r\n", "STORED\r\n"},
				{"replace k 0 0 2\r\n34\r\n", "STORED\r\n"},
				{"get k\r\n", "END\r\n"},
			} {
				if got := c.do(step[0]); got != step[1] {
					t.Fatalf("during the quarantine: %q answered %q, want %q", step[0], got, step[1])
				}
			}
			// The quarantine ends: the last write is served, never earlier.
			short, shortAddr := startServer(t, Config{PauseBound: time.Hour, RejoinQuarantine: quarantine})
			c = dial(t, shortAddr)
			c.do("set k 0 0 1\r\n1\r\n")
			start := time.Now()
			invalidate.do(short)
			c = dial(t, shortAddr)
			if got := c.do("set k 0 0 1\r\n2\r\n"); got != "STORED\r\n" {
				t.Fatalf("set after the invalidation: %q", got)
			}
			testproc.Eventually(t, 20*time.Second, "a hit after the quarantine", func() bool {
				return c.do("get k\r\n") != "END\r\n"
			})
			if took := time.Since(start); took < quarantine {
				t.Fatalf("a hit %v after the invalidation, within the %v quarantine", took, quarantine)
			}
			if got := c.do("get k\r\n"); got != "VALUE k 0 1\r\n2\r\nEND\r\n" {
				t.Fatalf("after the quarantine: %q, want the write made during it", got)
			}
		})
	}
}

// InvalidateAll (a refuted death) flushes at once and counts its cause,
// even when the server's clock lags (as its coarse clock does right after
// a pause, before it ticks).
func TestInvalidateAllFlushes(t *testing.T) {
	clock := &fakeClock{now: time.Now().Add(-time.Hour)}
	s, addr := startServer(t, Config{Now: clock.Now})
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	c := dial(t, addr)
	c.do("set k 0 0 1\r\n1\r\n")
	s.InvalidateAll(CauseRefuted)
	c.send("get k\r\n")
	if out, closed := c.closed(); !closed || out != "" {
		t.Fatalf("a connection opened before the invalidation: closed %v, answered %q", closed, out)
	}
	c = dial(t, addr)
	if got := c.do("get k\r\n"); got != "END\r\n" {
		t.Fatalf("get after InvalidateAll: %q", got)
	}
	if _, body := get(t, admin.URL+"/metrics"); !strings.Contains(body, `zonecache_server_invalidations_total{cause="refuted"} 1`) {
		t.Error("refuted invalidation not counted")
	}
}

// A node that leaves its fleet (Leaving) serves no hits from then on, on
// open connections and new ones, even once back from an isolation, but
// takes writes: clients whose view still lists it see no error. Storage
// commands see what is stored (append finds k), as in the rejoin
// quarantine; nothing stored is ever served again.
func TestLeavingNodeServesNoHitsAndTakesWrites(t *testing.T) {
	for _, bound := range []time.Duration{0, time.Hour} {
		s, addr := startServer(t, Config{PauseBound: bound})
		c := dial(t, addr)
		c.do("set k 0 0 1\r\n1\r\nset n 0 0 1\r\n5\r\n")
		s.Leaving()
		for cmd, want := range map[string]string{
			"get k\r\n":               "END\r\n",
			"mg k v\r\n":              "EN\r\n",
			"incr n 1\r\n":            "NOT_FOUND\r\n",
			"touch k 0\r\n":           "NOT_FOUND\r\n",
			"set k 0 0 1\r\n2\r\n":    "STORED\r\n",
			"ms k 1\r\n3\r\n":         "HD\r\n",
			"append k 0 0 1\r\nx\r\n": "STORED\r\n",
		} {
			if got := c.do(cmd); got != want {
				t.Errorf("bound %v, leaving: %q answered %q, want %q", bound, cmd, got, want)
			}
		}
		s.SetIsolated(true)
		s.SetIsolated(false)
		if got := dial(t, addr).do("set k 0 0 1\r\n4\r\nget k\r\n"); got != "STORED\r\nEND\r\n" {
			t.Errorf("bound %v, leaving, after an isolation, on a new connection: %q", bound, got)
		}
	}
}
