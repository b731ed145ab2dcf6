package server

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptConn is a net.Conn that reads a fixed script and records the size
// of every write, so a test can see how much a connection buffered.
type scriptConn struct {
	r        io.Reader
	out      bytes.Buffer
	maxWrite int
}

func (s *scriptConn) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *scriptConn) Write(p []byte) (int, error) {
	s.maxWrite = max(s.maxWrite, len(p))
	return s.out.Write(p)
}
func (s *scriptConn) Close() error                     { return nil }
func (s *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// smallReads returns at most 1000 bytes a read.
type smallReads struct{ r io.Reader }

func (s smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 1000)]) }

// A streamed multi-get (a line longer than maxLineLength) writes its reply
// out as it grows, like a short get: hits of values under the large-value
// threshold must not pile up in the output buffer, whose size would then be
// chosen by the client (about 8000 one-byte keys per read buffer).
func TestStreamedGetBoundsOutputBuffer(t *testing.T) {
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler), Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const size = 4000
	val := strings.Repeat("v", size)
	script := "set a 0 0 4000\r\n" + val + "\r\nget" + strings.Repeat(" a", 1500) + "\r\n"
	// Small reads: the get line is seen without its newline and streamed.
	nc := &scriptConn{r: smallReads{strings.NewReader(script)}}
	newConn(s, nc).serve()
	hit := "VALUE a 0 4000\r\n" + val + "\r\n"
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
	nc := &scriptConn{r: smallReads{strings.NewReader(script)}}
	newConn(s, nc).serve()
	v := "VERSION " + Version + "\r\n"
	if got, want := nc.out.String(), v+"ERROR\r\n"+v; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
