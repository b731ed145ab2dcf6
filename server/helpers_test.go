package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// ioDeadline bounds every network wait in tests; generous for a loaded
// machine.
const ioDeadline = 20 * time.Second

// fakeClock is a settable clock for TTL tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// startServer runs an in-process server on a loopback port, closed when
// the test ends.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s, addr, done := serveOwn(t, cfg)
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	deadline := time.Now().Add(ioDeadline)
	for !s.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(time.Millisecond)
	}
	return s, addr
}

// serveOwn runs an in-process server on a loopback port that the test
// stops itself (no cleanup closes it), and returns it, its address and
// what Serve will return.
func serveOwn(t testing.TB, cfg Config) (*Server, string, <-chan error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), ln) }()
	return s, ln.Addr().String(), served
}

// client is a raw protocol connection.
type client struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioDeadline)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *client) send(s string) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioDeadline))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readUntil reads until the received bytes end with suffix.
func (c *client) readUntil(suffix string) string {
	c.t.Helper()
	got, err := c.readSuffix(suffix)
	if err != nil {
		c.t.Fatalf("read (want suffix %q): %v; got %q", suffix, err, got)
	}
	return got
}

// readSuffix reads until the received bytes end with suffix, or a read
// fails; it needs no testing.T, for worker goroutines.
func (c *client) readSuffix(suffix string) (string, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(ioDeadline))
	var buf bytes.Buffer
	tmp := make([]byte, 64<<10)
	for !strings.HasSuffix(buf.String(), suffix) {
		n, err := c.r.Read(tmp)
		buf.Write(tmp[:n])
		if err != nil {
			return buf.String(), err
		}
	}
	return buf.String(), nil
}

// readAtLeast reads until n bytes have come, and returns what came.
func (c *client) readAtLeast(n int) string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ioDeadline))
	buf := make([]byte, max(n, 64<<10))
	got := 0
	for got < n {
		m, err := c.r.Read(buf[got:])
		got += m
		if err != nil {
			c.t.Fatalf("read (want %d bytes): %v; got %d: %.200q", n, err, got, buf[:got])
		}
	}
	return string(buf[:got])
}

// do sends commands followed by mn and returns every reply before MN.
func (c *client) do(cmds string) string {
	c.t.Helper()
	c.send(cmds + "mn\r\n")
	out := c.readUntil("MN\r\n")
	return strings.TrimSuffix(out, "MN\r\n")
}

// readAll reads until the server closes the connection.
func (c *client) readAll() (string, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(ioDeadline))
	b, err := io.ReadAll(c.r)
	return string(b), err
}

// closed reports whether the server closed the connection (EOF or reset)
// within the deadline, with what was read before.
func (c *client) closed() (string, bool) {
	out, err := c.readAll()
	if err == nil {
		return out, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return out, false
	}
	return out, true // reset by peer
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
}
