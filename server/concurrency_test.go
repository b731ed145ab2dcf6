package server

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Many connections hammer the same keys with reads, writes and counters;
// counters must add up, and a connection sending garbage meanwhile must not
// disturb the others.
func TestConcurrentClients(t *testing.T) {
	s, addr := startServer(t, Config{})
	const workers, rounds = 8, 200
	c0 := dial(t, addr)
	if got := c0.do("set counter 0 0 1\r\n0\r\n"); got != "STORED\r\n" {
		t.Fatal(got)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := dial(t, addr)
			for i := 0; i < rounds; i++ {
				key := fmt.Sprintf("k%d", i%10)
				got := c.do(fmt.Sprintf("set %s 0 0 2\r\n%02d\r\nget %s\r\nincr counter 1\r\nmg %s v\r\n", key, w, key, key))
				if !strings.HasPrefix(got, "STORED\r\nVALUE "+key+" 0 2\r\n") || strings.Contains(got, "ERROR") {
					errs <- fmt.Errorf("worker %d: %q", w, got)
					return
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		g := dial(t, addr)
		g.send(strings.Repeat("\xde\xad\xbe\xef", 1024))
		if _, closed := g.closed(); !closed {
			errs <- fmt.Errorf("garbage connection not closed")
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := c0.do("get counter\r\n")
	want := strconv.Itoa(workers * rounds)
	if got != fmt.Sprintf("VALUE counter 0 %d\r\n%s\r\nEND\r\n", len(want), want) {
		t.Fatalf("counter: %q, want %s", got, want)
	}
	if n := s.stats.currConns.Load(); n < 1 {
		t.Fatalf("curr_connections %d", n)
	}
}
