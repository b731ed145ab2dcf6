package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminMetricsHealthReady(t *testing.T) {
	s, addr := startServer(t, Config{})
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	c := dial(t, addr)
	c.do("set a 0 0 1\r\nx\r\nget a b\r\nmg a v\r\n")

	code, body := get(t, admin.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"zonecache_server_hits_total 2", "zonecache_server_misses_total 1", "zonecache_server_items 1",
		"zonecache_server_evictions_total 0", "zonecache_server_connections 1", "zonecache_server_item_bytes ",
		`zonecache_server_commands_total{command="get"} 1`,
		`zonecache_server_commands_total{command="mg"} 1`,
		`zonecache_server_commands_total{command="set"} 1`,
		`zonecache_server_command_duration_seconds_bucket{command="mn",le="+Inf"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := get(t, admin.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get(t, admin.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz while serving: %d", code)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if code, _ := get(t, admin.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz after shutdown: %d, want 503", code)
	}
}

func TestMaxConnsRejects(t *testing.T) {
	_, addr := startServer(t, Config{MaxConns: 2})
	a, b := dial(t, addr), dial(t, addr)
	a.do("version\r\n")
	b.do("version\r\n")
	c := dial(t, addr)
	out, closed := c.closed()
	if !closed || out != "ERROR Too many open connections\r\n" {
		t.Fatalf("third connection: closed=%v out=%q", closed, out)
	}
	if got := a.do("set k 0 0 1\r\nv\r\n"); got != "STORED\r\n" {
		t.Fatalf("first connection after reject: %q", got)
	}
}

func TestShutdownFinishesInFlightCommand(t *testing.T) {
	s, addr, served := serveOwn(t, Config{})
	busy := dial(t, addr)
	idle := dial(t, addr)
	idle.do("version\r\n")
	waitFor(t, func() bool { return busyConns(s) == 0 })
	busy.send("set k 0 0 10\r\n01234") // the value is still arriving
	// Wait until the server has read the command line: it then counts one
	// connection as busy.
	waitFor(t, func() bool { return busyConns(s) == 1 })

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if _, closed := idle.closed(); !closed {
		t.Fatal("idle connection not closed by Shutdown")
	}
	busy.send("56789\r\n")
	out, closed := busy.closed()
	if !closed || out != "STORED\r\n" {
		t.Fatalf("in-flight set: closed=%v out=%q", closed, out)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve returned %v", err)
	}
}

func busyConns(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.state.Load() == connBusy {
			n++
		}
	}
	return n
}
