package fleet

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// roundTrip sends one command to addr and returns the first reply line.
func roundTrip(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestMemcachedFleetNodeRestartsEmptyOnItsAddress(t *testing.T) {
	bin := testproc.RequireMemcached(t)
	f, err := Start(context.Background(), Config{Binary: bin, Memcached: true, Zones: []string{"a"}, NodesPerZone: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	n := f.Nodes()[0]
	if got := roundTrip(t, n.Addr, "set k 0 0 1\r\nv\r\n"); got != "STORED" {
		t.Fatalf("set: %q", got)
	}
	pid := n.Pid()
	n.Kill()
	if err := f.Restart(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if n.Pid() == pid || !n.Running() {
		t.Fatalf("pid %d (was %d), running %v: not a new process", n.Pid(), pid, n.Running())
	}
	if got := roundTrip(t, n.Addr, "get k\r\n"); got != "END" {
		t.Fatalf("get after restart: %q, want END (empty)", got)
	}
}
