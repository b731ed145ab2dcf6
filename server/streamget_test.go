package server

import (
	"log/slog"
	"strings"
	"testing"
)

// A streamed multi-get (a line longer than maxLineLength) writes its reply
// out as it grows, like a short get: hits of values under the large-value
// threshold must not pile up in the output buffer, whose size would then be
// chosen by the client (about 1000 keys per 2 KB of line).
func TestStreamedGetBoundsOutputBuffer(t *testing.T) {
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler), Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const size = 600
	val := strings.Repeat("v", size)
	script := "set a 0 0 600\r\n" + val + "\r\nget" + strings.Repeat(" a", 1500) + "\r\n"
	// Small reads: the get line is seen without its newline and streamed.
	nc := &memConn{in: &chunkReader{data: []byte(script), size: 1000}}
	newConn(s, nc).serve()
	hit := "VALUE a 0 600\r\n" + val + "\r\n"
	want := "STORED\r\n" + strings.Repeat(hit, 1500) + "END\r\n"
	if got := nc.out.String(); got != want {
		t.Fatalf("reply: got %d bytes, want %d", len(got), len(want))
	}
	if limit := flushThreshold + len(hit); nc.maxWrite > limit {
		t.Fatalf("streamed get buffered %d bytes before writing, want at most %d", nc.maxWrite, limit)
	}
}

// A streamed get line that holds no key answers ERROR, and nothing else:
// replies to earlier commands written out while the line streamed in must
// not be sent again.
func TestStreamedGetWithoutKeysAfterReplies(t *testing.T) {
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler), Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	script := "version\r\nget" + strings.Repeat(" ", 3000) + "\r\nversion\r\n"
	nc := &memConn{in: &chunkReader{data: []byte(script), size: 1000}}
	newConn(s, nc).serve()
	v := "VERSION " + Version + "\r\n"
	if got, want := nc.out.String(), v+"ERROR\r\n"+v; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
