package testproc

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartMemcachedAnswersVersionAndDiesOnKill(t *testing.T) {
	p := StartMemcached(t, "-m", "16")
	c, err := net.DialTimeout("tcp", p.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "VERSION 1.6.") {
		t.Fatalf("version reply %q", line)
	}
	rss, err := p.RSSBytes()
	if err != nil || rss <= 0 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	p.Kill()
	if !p.Exited() {
		t.Fatal("process still running after Kill")
	}
	if _, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		t.Fatal("port still accepts connections after Kill")
	}
}

// Freeze returns with every thread of the process stopped, so a request
// sent after it gets no answer until Thaw; then it is answered.
func TestFreezeStopsEveryThreadUntilThaw(t *testing.T) {
	p := StartMemcached(t, "-m", "16", "-t", "4")
	c, err := net.DialTimeout("tcp", p.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := p.Freeze(); err != nil {
		t.Fatal(err)
	}
	if !p.stopped() {
		t.Fatal("Freeze returned before every thread stopped")
	}
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if line, err := r.ReadString('\n'); err == nil {
		t.Fatalf("a frozen memcached answered %q", line)
	}
	if err := p.Thaw(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "VERSION") {
		t.Fatalf("after Thaw: %q, %v", line, err)
	}
}
