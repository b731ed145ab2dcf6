package faultproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails the test instead of blocking it
	return c
}

func TestBytesPassThrough(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	r := bufio.NewReader(c)
	for _, msg := range []string{"hello\n", "get k\r\n", string(make([]byte, 100000)) + "\n"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if got != msg {
			t.Fatalf("got %d bytes back, want %d", len(got), len(msg))
		}
	}
	if n := p.DelayedChunks(); n != 0 {
		t.Fatalf("%d chunks delayed without a delay", n)
	}
}

func TestDelayAppliesAndCanBeLifted(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	r := bufio.NewReader(c)
	p.SetDelay(time.Millisecond)
	if p.Delay() != time.Millisecond {
		t.Fatalf("Delay() = %v", p.Delay())
	}
	if _, err := c.Write([]byte("slow\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := r.ReadString('\n'); err != nil || got != "slow\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	if n := p.DelayedChunks(); n < 1 {
		t.Fatalf("the reply passed undelayed (delayed chunks %d)", n)
	}
	p.SetDelay(0)
	before := p.DelayedChunks()
	if _, err := c.Write([]byte("fast\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := r.ReadString('\n'); err != nil || got != "fast\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	if n := p.DelayedChunks(); n != before {
		t.Fatalf("delayed chunks went from %d to %d with no delay", before, n)
	}
}

// TestDelayHoldsUntilClose: with a very long delay the reply is held (the
// counter shows it waiting) and nothing reaches the client; Close cuts the
// delay short and closes the connection without delivering it.
func TestDelayHoldsUntilClose(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	p.SetDelay(time.Hour)
	if _, err := c.Write([]byte("held\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.DelayedChunks() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reply never reached the delay")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not interrupt the delay")
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err == nil || n != 0 {
		t.Fatalf("read %q, %v after Close; want no data and an error", buf[:n], err)
	}
}

func TestCloseStopsAccepting(t *testing.T) {
	p := newProxy(t, echoServer(t))
	addr := p.Addr()
	c := dial(t, addr)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The open connection is closed...
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a closed proxy", n)
	}
	// ... and new ones are refused.
	if c2, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c2.Close()
		t.Fatal("the closed proxy still accepts connections")
	}
}

func TestNewNeedsTarget(t *testing.T) {
	if _, err := New(""); err == nil {
		t.Fatal("New(\"\") succeeded")
	}
}
