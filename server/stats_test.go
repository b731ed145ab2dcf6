package server

import (
	"fmt"
	"math/bits"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stat returns one counter of a "stats" reply, failing if it is absent.
func stat(t *testing.T, c *client, name string) int64 {
	t.Helper()
	got := c.do("stats\r\n")
	for _, line := range strings.Split(got, "\r\n") {
		if f := strings.Fields(line); len(f) == 3 && f[1] == name {
			v, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				t.Fatalf("stat %s: %q", name, line)
			}
			return v
		}
	}
	t.Fatalf("stats lacks %s:\n%s", name, got)
	return 0
}

// A read that finds its key expired counts as get_expired. The background
// sweeper may reclaim an item first, so the test retries with new keys
// until one read has found its item expired.
func TestStatsGetExpired(t *testing.T) {
	clk := newFakeClock()
	_, addr := startServer(t, Config{Now: clk.Now})
	c := dial(t, addr)
	if n := stat(t, c, "get_expired"); n != 0 {
		t.Fatalf("get_expired %d before any read", n)
	}
	i := 0
	waitFor(t, func() bool {
		i++
		c.do(fmt.Sprintf("set k%d 0 1 1\r\nx\r\n", i))
		clk.Advance(2 * time.Second)
		if got := c.do(fmt.Sprintf("get k%d\r\n", i)); got != "END\r\n" {
			t.Fatalf("expired item read: %q", got)
		}
		return stat(t, c, "get_expired") == 1
	})
	if n := stat(t, c, "get_flushed"); n != 0 {
		t.Fatalf("get_flushed %d", n)
	}
	c.do("get nokey\r\n")
	if n := stat(t, c, "get_expired"); n != 1 {
		t.Fatalf("a plain miss counted as expired: %d", n)
	}
}

// hash_bytes and hash_power_level describe the store's index, and grow
// with it.
func TestStatsHash(t *testing.T) {
	s, addr := startServer(t, Config{})
	c := dial(t, addr)
	check := func() (int64, int64) {
		t.Helper()
		hb, hp := stat(t, c, "hash_bytes"), stat(t, c, "hash_power_level")
		ss := s.store.Stats()
		if hb != ss.IndexBytes || hp != int64(bits.Len64(uint64(ss.IndexSlots))-1) {
			t.Fatalf("hash_bytes %d hash_power_level %d; index %d bytes, %d slots", hb, hp, ss.IndexBytes, ss.IndexSlots)
		}
		return hb, hp
	}
	hb0, hp0 := check()
	if hb0 <= 0 || hp0 <= 0 {
		t.Fatalf("hash_bytes %d hash_power_level %d", hb0, hp0)
	}
	var b strings.Builder
	for i := 0; i < 50_000; i++ {
		fmt.Fprintf(&b, "set key%d 0 0 1 noreply\r\nv\r\n", i)
	}
	c.do(b.String())
	if hb, hp := check(); hb <= hb0 || hp <= hp0 {
		t.Fatalf("after 50,000 items: hash_bytes %d (was %d), hash_power_level %d (was %d)", hb, hb0, hp, hp0)
	}
}

// stats reset zeroes what memcached's does (command, hit, connection and
// item totals, evictions, reclaimed) and keeps the gauges; the Prometheus
// counters go on counting from the start.
func TestStatsReset(t *testing.T) {
	s, addr := startServer(t, Config{MaxBytes: 8 << 20, MaxConns: 2})
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	c := dial(t, addr)
	value := strings.Repeat("v", 100_000)
	for i := 0; i < 120; i++ {
		c.do(fmt.Sprintf("set big%d 0 0 %d noreply\r\n%s\r\n", i, len(value), value))
	}
	c.do("set a 0 0 1\r\n1\r\nget a b\r\nincr a 1\r\ndelete b\r\n")
	c2 := dial(t, addr)
	c2.do("get a\r\n")
	extra := dial(t, addr) // over MaxConns: rejected
	if out, closed := extra.closed(); !closed || out != "ERROR Too many open connections\r\n" {
		t.Fatalf("third connection: %q closed %v", out, closed)
	}
	zeroed := []string{"total_connections", "rejected_connections", "total_items", "evictions", "evicted_unfetched",
		"cmd_get", "cmd_set", "get_hits", "get_misses", "delete_misses", "incr_hits"}
	for _, name := range zeroed {
		if n := stat(t, c, name); n == 0 {
			t.Fatalf("%s is 0 before the reset: the test does not exercise it", name)
		}
	}
	items, bytes := stat(t, c, "curr_items"), stat(t, c, "bytes")
	if got := c.do("stats reset\r\n"); got != "RESET\r\n" {
		t.Fatalf("stats reset: %q", got)
	}
	for _, name := range zeroed {
		if n := stat(t, c, name); n != 0 {
			t.Errorf("%s %d after stats reset", name, n)
		}
	}
	if n := stat(t, c, "curr_items"); n != items {
		t.Errorf("curr_items %d after reset, was %d", n, items)
	}
	if n := stat(t, c, "bytes"); n != bytes {
		t.Errorf("bytes %d after reset, was %d", n, bytes)
	}
	if n := stat(t, c, "curr_connections"); n != 2 {
		t.Errorf("curr_connections %d after reset", n)
	}
	if got := c.do("stats items\r\n"); strings.Contains(got, "evicted ") && !strings.Contains(got, "items:1:evicted 0\r\n") {
		t.Errorf("stats items after reset: %q", got)
	}
	c.do("get a\r\n")
	if n := stat(t, c, "get_hits"); n != 1 {
		t.Errorf("get_hits %d after one hit since the reset", n)
	}
	_, body := get(t, admin.URL+"/metrics")
	for _, want := range []string{"zonecache_server_connections_total 2\n", "zonecache_server_rejected_connections_total 1\n",
		"zonecache_server_hits_total 3\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q after a stats reset", want)
		}
	}
	if strings.Contains(body, "zonecache_server_evictions_total 0\n") {
		t.Errorf("/metrics evictions went back to 0 after a stats reset")
	}
}
