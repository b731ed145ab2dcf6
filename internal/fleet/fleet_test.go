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

func version(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestFleetStartsKillsZoneAndStopsEverything(t *testing.T) {
	f, err := Start(context.Background(), Config{Binary: testproc.ZonecachedBinary(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	if got := len(f.Nodes()); got != 6 {
		t.Fatalf("%d nodes, want 3 zones x 2", got)
	}
	if err := f.Topology().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, n := range f.Nodes() {
		v, err := version(n.Addr)
		if err != nil || !strings.HasPrefix(v, "VERSION 1.6.") {
			t.Fatalf("%s: %q %v", n.ID, v, err)
		}
	}
	f.KillZone("a")
	for _, n := range f.Zone("a") {
		if n.Running() {
			t.Fatalf("%s still running after KillZone", n.ID)
		}
		if _, err := version(n.Addr); err == nil {
			t.Fatalf("%s still answers after KillZone", n.ID)
		}
	}
	for _, n := range f.Zone("b") {
		if _, err := version(n.Addr); err != nil {
			t.Fatalf("%s in another zone stopped answering: %v", n.ID, err)
		}
	}
	frozen := f.Zone("c")[0]
	if err := frozen.Freeze(); err != nil {
		t.Fatal(err)
	}
	f.Stop() // must also stop a frozen node
	for _, n := range f.Nodes() {
		if n.Running() {
			t.Fatalf("%s still running after Stop", n.ID)
		}
	}
}

func TestStartFailsCleanlyOnABadBinaryArgument(t *testing.T) {
	_, err := Start(context.Background(), Config{Binary: testproc.ZonecachedBinary(t),
		Args: []string{"--no-such-flag"}, StartTimeout: 5 * time.Second})
	if err == nil {
		t.Fatal("a node that cannot start must fail Start")
	}
}
