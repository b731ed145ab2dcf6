package server

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// An isolated node serves no hits: get, gets, gat, mg, me, incr and append
// find nothing although the item is held; once it is back, the store has
// been flushed, so nothing written before or during the isolation is
// served, and the invalidation is counted.
func TestIsolatedNodeServesNoHitsAndFlushesOnReturn(t *testing.T) {
	s, addr := startServer(t, Config{PauseBound: time.Hour})
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
// takes writes: clients whose view still lists it see no error.
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
			"append k 0 0 1\r\nx\r\n": "NOT_STORED\r\n",
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
