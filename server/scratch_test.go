package server

import (
	"log/slog"
	"strings"
	"testing"
)

// An incr of a number padded to a large value rewrites it in place through
// the connection's scratch buffer; the connection must not keep a buffer of
// that size afterwards (every connection could otherwise hold an item-sized
// buffer outside the large-value budget).
func TestArithDoesNotRetainLargeScratch(t *testing.T) {
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler), Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const size = 200000
	val := "1" + strings.Repeat(" ", size-1)
	script := "set n 0 0 200000\r\n" + val + "\r\nincr n 1\r\nget n\r\n"
	nc := &memConn{in: &chunkReader{data: []byte(script), size: 4096}}
	c := newConn(s, nc)
	c.serve()
	want := "STORED\r\n2\r\nVALUE n 0 200000\r\n2" + strings.Repeat(" ", size-1) + "\r\nEND\r\n"
	if got := nc.out.String(); got != want {
		t.Fatalf("reply: got %d bytes, want %d: %.40q", len(got), len(want), got)
	}
	if n := cap(c.scratch); n > retainedBuffer {
		t.Fatalf("connection kept a %d-byte scratch buffer, want at most %d", n, retainedBuffer)
	}
}
