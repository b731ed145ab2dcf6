package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/server/internal/store"
)

// Large values being read, and large values copied into replies, are
// bounded across all connections. A value is charged as its bytes arrive,
// so clients that announce large values and stall hold none of the budget;
// clients that stall holding it lose it (their connection is closed with
// an error) when another client needs it, or when ValueTimeout passes.
func TestLargeValueBudget(t *testing.T) {
	s, addr := startServer(t, Config{MaxBytes: 8 << 20, MaxItemSize: 1 << 20, ValueTimeout: 3 * time.Second})
	const size = 1_000_000
	if s.bigBuffers.limit != 4<<20 {
		t.Fatalf("budget %d", s.bigBuffers.limit)
	}
	value := strings.Repeat("v", size)
	announced := make([]*client, 4)
	for i := range announced {
		announced[i] = dial(t, addr)
		announced[i].send(fmt.Sprintf("set ann%d 0 0 %d\r\nx", i, size)) // the rest never comes yet
	}
	late := dial(t, addr)
	if got := late.do(fmt.Sprintf("set late 0 0 %d\r\n%s\r\n", size, value)); got != "STORED\r\n" {
		t.Fatalf("set while values are only announced: %.200q", got)
	}
	for i, c := range announced {
		if got := c.do(value[1:] + "\r\n"); got != "STORED\r\n" {
			t.Fatalf("announced set %d: %.200q", i, got)
		}
	}
	waitFor(t, func() bool { return s.bigBuffers.used.Load() == 0 })

	var stalled []*client
	for i := 0; i < 4; i++ {
		c := dial(t, addr)
		c.send(fmt.Sprintf("set slow%d 0 0 %d\r\n%s", i, size, value[1:])) // all but one byte
		stalled = append(stalled, c)
	}
	waitFor(t, func() bool { return s.bigBuffers.used.Load() == 4*(size+2) })
	if got := late.do(fmt.Sprintf("set late 0 0 %d\r\n%s\r\nget late\r\n", size, value)); !strings.HasPrefix(got, "STORED\r\nVALUE late 0 1000000\r\n") {
		t.Fatalf("set over a budget held by stalled clients: %.200q", got)
	}
	for i, c := range stalled {
		if got, closed := c.closed(); !closed || got != valueTimeoutError {
			t.Fatalf("stalled set %d: closed %v after %q", i, closed, got)
		}
	}
	waitFor(t, func() bool { return s.bigBuffers.used.Load() == 0 })
	if n := s.stats.get(stValueTimeouts); n != uint64(len(stalled)) {
		t.Errorf("%d connections counted closed for their values, want %d", n, len(stalled))
	}
	// A multi-get of large values is written out value by value, so it
	// never holds more than one of them against the budget.
	got := late.do("get ann0 ann1 ann2 ann3 late\r\n")
	if n := strings.Count(got, "VALUE "); n != 5 || !strings.HasSuffix(got, "END\r\n") {
		t.Fatalf("multi-get of large values: %d values", n)
	}
	if used := s.bigBuffers.used.Load(); used != 0 {
		t.Fatalf("budget still holds %d bytes", used)
	}
}

// The large-value budget no longer grows with MaxBytes: half of it for a
// small store, capped at LargeValueBudgetCap, and always room for four of
// the largest items.
func TestLargeValueBudgetIsCapped(t *testing.T) {
	for _, tc := range []struct {
		maxBytes int64
		maxItem  int
		want     int64
	}{
		{8 << 20, 1 << 20, 4 << 20},
		{64 << 20, 1 << 20, 32 << 20},
		{1 << 30, 1 << 20, LargeValueBudgetCap},
		{64 << 30, 1 << 20, LargeValueBudgetCap},
		{1 << 30, 64 << 20, 256 << 20},
		{64 << 30, 64 << 20, 256 << 20},
	} {
		cfg := Config{MaxBytes: tc.maxBytes, MaxItemSize: tc.maxItem}
		if got := cfg.largeValueBudget(); got != tc.want {
			t.Errorf("-m %d MiB -I %d KiB: budget %d, want %d", tc.maxBytes>>20, tc.maxItem>>10, got, tc.want)
		}
	}
	s, _ := startServer(t, Config{MaxBytes: 1 << 30})
	if s.bigBuffers.limit != LargeValueBudgetCap {
		t.Fatalf("server's budget %d, want %d", s.bigBuffers.limit, LargeValueBudgetCap)
	}
}

// The memory bound's overhead beyond MaxBytes is the same for every
// MaxBytes past the point where the budget is capped, and the Go limit
// leaves out exactly the item rings.
func TestMemoryBound(t *testing.T) {
	def := Config{EventLoops: -1}
	if got, want := def.MemoryBound(), int64(64<<20+32<<20+1024*PerConnBytes+RuntimeBytes); got != want {
		t.Fatalf("default bound without event loops %d, want %d", got, want)
	}
	if got := (Config{AdminConns: 64, EventLoops: -1}).MemoryBound(); got != def.MemoryBound()+64*AdminConnBytes || got != 344<<20 {
		t.Fatalf("bound with 64 admin connections %d, want %d (344 MiB, as the godoc says)", got, def.MemoryBound()+64*AdminConnBytes)
	}
	if got := (Config{EventLoops: 4}).MemoryBound() - def.MemoryBound(); got != 4*LoopBytes || LoopBytes != 352<<10 {
		t.Fatalf("4 event loops add %d, want 4 × LoopBytes (%d; the godoc says 352 KiB)", got, LoopBytes)
	}
	if got := (Config{EventLoops: 4, DisableIOURing: true}).MemoryBound(); got != def.MemoryBound() {
		t.Fatalf("4 event loops without io_uring: bound %d, want %d", got, def.MemoryBound())
	}
	if PerConnBytes != 212<<10 {
		t.Fatalf("PerConnBytes %d; the Config and MemoryBound godoc say 212 KiB", PerConnBytes)
	}
	var overhead int64
	for _, m := range []int64{64 << 20, 1 << 30, 16 << 30} {
		cfg := Config{MaxBytes: m, MaxConns: 100}
		o := cfg.MemoryBound() - m
		if overhead != 0 && o != overhead {
			t.Errorf("-m %d MiB: overhead %d, at a smaller -m %d", m>>20, o, overhead)
		}
		overhead = o
		rings := m - store.IndexLimit(m, DefaultMaxItemSize)
		if got := cfg.GoMemoryLimit(); got != cfg.MemoryBound()-rings || got <= o {
			t.Errorf("-m %d MiB: Go limit %d (bound %d, rings %d)", m>>20, got, cfg.MemoryBound(), rings)
		}
	}
}
