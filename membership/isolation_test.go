package membership

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// fenceLog records what a member tells its cache.
type fenceLog struct {
	mu       sync.Mutex
	isolated bool
	changes  int
	causes   []string
}

func (f *fenceLog) SetIsolated(b bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.isolated = b
	f.changes++
}

func (f *fenceLog) InvalidateAll(cause string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.causes = append(f.causes, cause)
}

func (f *fenceLog) state() (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.isolated, f.changes
}

func TestPauseBoundIsHalfTheShortestSuspicion(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want time.Duration
	}{
		{Config{Profile: "local"}, 1500 * time.Millisecond},
		{Config{Profile: "lan"}, 2 * time.Second},
		{Config{Profile: "wan"}, 15 * time.Second},
		{Config{Profile: "local", ProbeInterval: 200 * time.Millisecond}, 300 * time.Millisecond},
	} {
		got, err := PauseBound(c.cfg)
		if err != nil || got != c.want {
			t.Errorf("PauseBound(%s, %v) = %v, %v; want %v", c.cfg.Profile, c.cfg.ProbeInterval, got, err, c.want)
		}
		fdt, _ := FailureDetectionTime(c.cfg, 1)
		if got >= fdt {
			t.Errorf("%s: bound %v not below failure detection %v", c.cfg.Profile, got, fdt)
		}
	}
}

// A member that loses contact with most of the members it knows fences
// its cache, and opens it again when contact is back; losing one member
// of three does not fence it.
func TestMemberCutOffFromMostOfTheFleetFencesItsCache(t *testing.T) {
	fence := &fenceLog{}
	// a's bound is 750 ms (500 ms probes), so that a loaded machine does
	// not fence it by mistake; the others probe every 200 ms and drop
	// dead members fast.
	a := startMember(t, "a1", "a", func(c *Config) {
		c.Fence, c.RejoinInterval, c.ProbeInterval = fence, 100*time.Millisecond, 500*time.Millisecond
	})
	portOf := func(m *Member) int {
		_, p, _ := net.SplitHostPort(m.GossipAddr())
		n, _ := strconv.Atoi(p)
		return n
	}
	join := func(c *Config) { c.Join = []string{a.GossipAddr()} }
	b := startMember(t, "b1", "b", join)
	c := startMember(t, "c1", "c", join)
	testproc.Eventually(t, 10*time.Second, "a sees three members", func() bool { return len(a.Topology().Nodes) == 3 })

	bPort := portOf(b)
	_ = b.Shutdown() // one of three lost: still in contact with most
	testproc.Eventually(t, 20*time.Second, "a drops b", func() bool { return len(a.Topology().Nodes) == 2 })
	if iso, n := fence.state(); iso || n != 0 {
		t.Fatalf("after losing one of three: isolated %v after %d changes, want never fenced", iso, n)
	}
	_ = c.Shutdown()
	testproc.Eventually(t, 20*time.Second, "a fences its cache", func() bool { iso, _ := fence.state(); return iso })
	if r := a.unready(); !strings.HasPrefix(r, "isolated") {
		t.Errorf("unready of a cut-off member = %q, want isolated", r)
	}

	// b comes back at its address: a rejoins it by itself (a knows it
	// failed), and 2 of 3 in contact opens the fence.
	startMember(t, "b1", "b", func(c *Config) { c.BindPort = bPort })
	testproc.Eventually(t, 20*time.Second, "a opens its cache", func() bool { iso, n := fence.state(); return !iso && n == 2 })
	testproc.Eventually(t, 20*time.Second, "a lists b again", func() bool { return len(a.Topology().Nodes) == 2 })
}

// A member whose seeds are all down starts alone and joins them once one
// is up.
func TestMemberJoinsSeedsThatComeUpLater(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	seed := "127.0.0.1:" + strconv.Itoa(port)
	b := startMember(t, "b1", "b", func(c *Config) { c.Join = []string{seed}; c.RejoinInterval = 100 * time.Millisecond })
	if n := len(b.Topology().Nodes); n != 1 {
		t.Fatalf("b alone lists %d members", n)
	}
	a := startMember(t, "a1", "a", func(c *Config) { c.BindPort = port })
	testproc.Eventually(t, 20*time.Second, "both list both", func() bool {
		return len(a.Topology().Nodes) == 2 && len(b.Topology().Nodes) == 2
	})
	// RequireJoin keeps the old behaviour.
	a.Shutdown()
	if _, err := Start(context.Background(), Config{NodeName: "x", Zone: "a", CacheAddr: "127.0.0.1:9", Profile: "local",
		Join: []string{"127.0.0.1:1"}, RequireJoin: true, Logger: quiet()}); err == nil {
		t.Fatal("RequireJoin with no seed up: started")
	}
}

// In a fleet of two (two zones of one node), the death of one is not
// isolation: one of two is half, and the survivor keeps serving.
func TestSurvivorOfATwoMemberFleetIsNotFenced(t *testing.T) {
	fence := &fenceLog{}
	a := startMember(t, "a1", "a", func(c *Config) { c.Fence = fence })
	b := startMember(t, "b1", "b", func(c *Config) { c.Join = []string{a.GossipAddr()} })
	testproc.Eventually(t, 10*time.Second, "a sees b", func() bool { return len(a.Topology().Nodes) == 2 })
	_ = b.Shutdown()
	testproc.Eventually(t, 20*time.Second, "a drops b", func() bool { return len(a.Topology().Nodes) == 1 })
	bound, _ := PauseBound(a.cfg)
	// Contact with b is lost for longer than the bound by the time it is
	// dropped; the fence must not have moved.
	if iso, n := fence.state(); iso || n != 0 {
		t.Fatalf("survivor of two: isolated %v after %d changes (bound %v)", iso, n, bound)
	}
}
