package nodeclient

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// netnsPrefix names this package's network namespaces: netnsPrefix<pid>,
// so that a later run can remove the ones a killed run left behind.
const netnsPrefix = "zctr"

// partition is a memcached in its own network namespace, reached over a
// veth pair from 198.18.0.0/15 (the benchmarking test-network range), that
// a test can cut off silently (the namespace side of the link down: the
// host keeps sending, nothing arrives, nothing answers) and heal.
type partition struct {
	ns, peer, host string // the namespace, its end of the link, the host's
	ip, addr       string // memcached's address inside the namespace
}

// newPartition sets the namespace up and starts memcached in it. It skips
// when not root (namespaces need CAP_NET_ADMIN); CI runs as root. Stale
// namespaces of dead test processes are removed first, and everything is
// removed when the test ends.
func newPartition(t *testing.T) *partition {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2)")
	}
	bin := testproc.RequireMemcached(t)
	removeStaleNamespaces(t)
	pid := os.Getpid()
	p := &partition{ns: fmt.Sprintf("%s%d", netnsPrefix, pid), peer: fmt.Sprintf("zc%db", pid), host: fmt.Sprintf("zc%da", pid)}
	host := p.host
	// One /30 per process id, moved on if another run holds it.
	var hostIP, nsIP string
	for i := 0; ; i++ {
		a := 4 * ((pid + i*7919) % (1 << 15)) // a /30 inside 198.18.0.0/15
		prefix := fmt.Sprintf("198.%d.%d.", 18+a>>16, a>>8&0xff)
		hostIP, nsIP = prefix+strconv.Itoa(a&0xff+1), prefix+strconv.Itoa(a&0xff+2)
		out, _ := exec.Command("ip", "-o", "-4", "addr").Output()
		if i > 20 || !strings.Contains(string(out), " "+hostIP+"/") && !strings.Contains(string(out), " "+nsIP+"/") {
			break
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", p.ns).Run() })
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", p.ns)
	run("link", "add", host, "type", "veth", "peer", "name", p.peer)
	run("link", "set", p.peer, "netns", p.ns)
	run("addr", "add", hostIP+"/30", "dev", host)
	run("link", "set", host, "up")
	run("netns", "exec", p.ns, "ip", "addr", "add", nsIP+"/30", "dev", p.peer)
	run("netns", "exec", p.ns, "ip", "link", "set", p.peer, "up")
	run("netns", "exec", p.ns, "ip", "link", "set", "lo", "up")
	// Static neighbours: after a heal, traffic flows the moment the link is
	// up, instead of after a new ARP exchange that would release the
	// kernel's pending retransmissions and the first new packet together.
	run("neigh", "replace", nsIP, "lladdr", p.mac(t, true, p.peer), "dev", host, "nud", "permanent")
	run("netns", "exec", p.ns, "ip", "neigh", "replace", hostIP, "lladdr", p.mac(t, false, host), "dev", p.peer, "nud", "permanent")
	p.ip, p.addr = nsIP, net.JoinHostPort(nsIP, "11211")
	cmd := exec.Command("ip", "netns", "exec", p.ns, bin, "-l", nsIP, "-p", "11211", "-U", "0", "-u", "root", "-m", "64")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // before the namespace goes (cleanups run last first)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	eventually(t, "memcached listening in "+p.ns, func() bool {
		c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return p
}

// mac returns the hardware address of link dev, in the namespace or not.
func (p *partition) mac(t *testing.T, inNS bool, dev string) string {
	t.Helper()
	args := []string{"link", "show", dev}
	if inNS {
		args = append([]string{"netns", "exec", p.ns, "ip"}, args...)
	}
	out, err := exec.Command("ip", args...).Output()
	_, rest, ok := strings.Cut(string(out), "link/ether ")
	if err != nil || !ok {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.Fields(rest)[0]
}

// cut drops everything between the host and the namespace, silently.
func (p *partition) cut(t *testing.T) { p.link(t, "down") }

// heal restores the link and waits until the host side has its carrier
// back (the kernel reports carrier changes up to a second late; packets
// sent before are dropped).
func (p *partition) heal(t *testing.T) {
	p.link(t, "up")
	eventually(t, "the host side of the link up", func() bool {
		b, err := os.ReadFile("/sys/class/net/" + p.host + "/carrier")
		return err == nil && strings.TrimSpace(string(b)) == "1"
	})
}

// retransmissions returns how many times the kernel has retransmitted
// the oldest unacknowledged segment of a socket that the client closed
// (FIN-WAIT-1) with data still queued to the namespace, and whether there
// is such a socket: after a reset there is none.
func (p *partition) retransmissions(t *testing.T) (int, bool) {
	t.Helper()
	out, err := exec.Command("ss", "-tnoH", "state", "fin-wait-1", "dst", p.ip).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	// ... timer:(on,416ms,2) ...
	_, timer, ok := strings.Cut(string(out), "timer:(on,")
	if !ok {
		return 0, false
	}
	_, n, _ := strings.Cut(timer, ",")
	n, _, _ = strings.Cut(n, ")")
	r, err := strconv.Atoi(n)
	return r, err == nil
}

func (p *partition) link(t *testing.T, state string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "exec", p.ns, "ip", "link", "set", p.peer, state).CombinedOutput(); err != nil {
		t.Fatalf("link %s: %v\n%s", state, err, out)
	}
}

// removeStaleNamespaces deletes the namespaces of test processes that no
// longer run (a killed run cannot clean up); the veth pairs go with them.
func removeStaleNamespaces(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, err := strconv.Atoi(strings.TrimPrefix(name, netnsPrefix))
		if !strings.HasPrefix(name, netnsPrefix) || err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			t.Logf("removing stale network namespace %s", name)
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// A request abandoned while the node is cut off never lands after the
// partition heals: its connection is reset, not closed gracefully, so the
// kernel does not keep retransmitting it. The test writes "old" while the
// namespace's link is down (the request times out and is abandoned), heals,
// writes "new" on a new connection, and then watches the key for longer
// than TCP's retransmission backoff could still hold "old" back: it must
// never read "old". With a graceful close the kernel still holds "old"
// (FIN-WAIT-1): the heal is then timed just after its third retransmission,
// so that the next one (about 1.6 s later) falls after the newer write, and
// the test fails when it lands.
func TestAbandonedWriteNeverLandsAfterHeal(t *testing.T) {
	p := newPartition(t)
	ctx := testCtx(t)
	n := newTestNode(t, p.addr, Config{Online: PoolConfig{Conns: 1, Timeout: 300 * time.Millisecond}, DialTimeout: 5 * time.Second})
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	p.cut(t)
	cutAt := time.Now()
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("old")}); err == nil {
		t.Fatal("a Set through a cut link succeeded")
	} else {
		t.Logf("abandoned: %v", err)
	}
	eventually(t, "the heal's moment", func() bool {
		r, held := p.retransmissions(t)
		return held && r >= 3 || !held && time.Since(cutAt) > 1500*time.Millisecond
	})
	_, held := p.retransmissions(t)
	p.heal(t)
	healedAt := time.Now()
	t.Logf("cut for %v; the kernel still held the abandoned write at the heal: %v",
		healedAt.Sub(cutAt).Round(time.Millisecond), held)
	fresh := newTestNode(t, p.addr, Config{Online: relaxed, DialTimeout: 5 * time.Second})
	if err := fresh.Online().Set(ctx, Item{Key: "k", Value: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	// A retransmission pending at the heal comes within the cut's length
	// again (exponential backoff); watch for twice that, at least 3 s.
	window := max(3*time.Second, 2*healedAt.Sub(cutAt))
	reads := 0
	for start := time.Now(); time.Since(start) < window; reads++ {
		it, err := fresh.Online().Get(ctx, "k")
		if err != nil {
			t.Fatalf("read after heal: %v", err)
		}
		if string(it.Value) != "new" {
			t.Fatalf("read %q %v after the heal (read %d): the abandoned write landed over the newer one",
				it.Value, time.Since(healedAt).Round(time.Millisecond), reads)
		}
		time.Sleep(20 * time.Millisecond) // pacing the reads, not synchronising
	}
	t.Logf("%d reads over %v after the heal: none saw the abandoned write", reads, window)
	if held {
		t.Fatal("the abandoned connection was closed gracefully: the kernel kept retransmitting its request")
	}
}
