package server

import (
	"fmt"
	"strings"
	"testing"
)

// Large values being read, and large values copied into replies, are
// bounded across all connections: past the budget, a set is refused with
// memcached's out-of-memory error instead of buffering more.
func TestLargeValueBudget(t *testing.T) {
	s, addr := startServer(t, Config{MaxBytes: 8 << 20, MaxItemSize: 1 << 20})
	const size = 1_000_000
	if s.bigBuffers.limit != 4<<20 {
		t.Fatalf("budget %d", s.bigBuffers.limit)
	}
	var slow []*client
	for i := 0; i < 4; i++ {
		c := dial(t, addr)
		c.send(fmt.Sprintf("set slow%d 0 0 %d\r\nx", i, size)) // the rest never comes yet
		slow = append(slow, c)
	}
	waitFor(t, func() bool { return s.bigBuffers.used.Load() == 4*(size+2) })
	value := strings.Repeat("v", size)
	late := dial(t, addr)
	if got := late.do(fmt.Sprintf("set late 0 0 %d\r\n%s\r\nget late\r\n", size, value)); got != "SERVER_ERROR out of memory storing object\r\nEND\r\n" {
		t.Fatalf("set over budget: %.200q", got)
	}
	for i, c := range slow {
		if got := c.do(value[1:] + "\r\n"); got != "STORED\r\n" {
			t.Fatalf("slow set %d: %.200q", i, got)
		}
	}
	waitFor(t, func() bool { return s.bigBuffers.used.Load() == 0 })
	if got := late.do(fmt.Sprintf("set late 0 0 %d\r\n%s\r\n", size, value)); got != "STORED\r\n" {
		t.Fatalf("set after the budget freed: %.200q", got)
	}
	// A multi-get of large values is written out value by value, so it
	// never holds more than one of them against the budget.
	got := late.do("get slow0 slow1 slow2 slow3 late\r\n")
	if n := strings.Count(got, "VALUE "); n != 5 || !strings.HasSuffix(got, "END\r\n") {
		t.Fatalf("multi-get of large values: %d values", n)
	}
	if used := s.bigBuffers.used.Load(); used != 0 {
		t.Fatalf("budget still holds %d bytes", used)
	}
}
