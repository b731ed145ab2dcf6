package faultproxy

import (
	"bufio"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	addr, _ := countingServer(t)
	return addr
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

// countingServer echoes every connection and counts the bytes it received.
func countingServer(t *testing.T) (addr string, received *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	received = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					received.Add(int64(n))
					if n > 0 {
						_, _ = c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), received
}

// TestBlackholeDropsAndBreaksConnections: bytes sent into the blackhole
// never reach the target; the connection that lost them is closed when the
// blackhole is lifted, and a new one passes bytes again.
func TestBlackholeDropsAndBreaksConnections(t *testing.T) {
	target, received := countingServer(t)
	p := newProxy(t, target)
	c := dial(t, p.Addr())
	p.SetBlackhole(true)
	if _, err := c.Write([]byte("lost\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.broken)
		p.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the blackhole did not take the bytes")
		}
		time.Sleep(time.Millisecond)
	}
	p.SetBlackhole(false)
	if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Fatal("the connection that lost bytes answered after the blackhole")
	}
	c2 := dial(t, p.Addr())
	if _, err := c2.Write([]byte("ok\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := bufio.NewReader(c2).ReadString('\n'); err != nil || got != "ok\n" {
		t.Fatalf("after the blackhole: %q %v", got, err)
	}
	if n := received.Load(); n != 3 {
		t.Fatalf("the target received %d bytes, want the 3 sent after the blackhole", n)
	}
}
