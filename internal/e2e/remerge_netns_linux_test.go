package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gossipLabPrefix starts the names of every namespace and interface these
// tests create, followed by the creating process's pid, so that leftovers
// of a killed run are recognised (their pid is gone) and removed, and
// nothing else is ever touched.
const gossipLabPrefix = "zcp"

// gossipLab is a set of network namespaces joined by veth pairs to a bridge
// in a hub namespace; nothing of it lives in the root namespace, so its
// addresses (198.18.0.0/24, the benchmarking range) cannot clash with the
// host's or another run's.
type gossipLab struct {
	t    *testing.T
	name string // prefix + pid
	hub  string
	ns   map[string]string // short name -> namespace
}

// ipCmd runs ip with args and fails the test on error.
func (l *gossipLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newGossipLab creates one namespace per name, each with address 198.18.0.i
// (i from 1) on a shared bridge, and removes everything when the test
// ends. It skips the test unless running as root with the ip command.
func newGossipLab(t *testing.T, names ...string) *gossipLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	removeLeftoverGossipLabs(t)
	l := &gossipLab{t: t, name: gossipLabPrefix + strconv.Itoa(os.Getpid()), ns: map[string]string{}}
	l.hub = l.name + "-hub"
	t.Cleanup(l.remove)
	l.ip("netns", "add", l.hub)
	l.ip("-n", l.hub, "link", "add", "br0", "type", "bridge")
	l.ip("-n", l.hub, "link", "set", "br0", "up")
	for i, n := range names {
		ns := l.name + "-" + n
		l.ns[n] = ns
		l.ip("netns", "add", ns)
		host, peer := ns+"h", ns+"n"
		l.ip("link", "add", host, "type", "veth", "peer", "name", peer)
		l.ip("link", "set", host, "netns", l.hub)
		l.ip("link", "set", peer, "netns", ns)
		l.ip("-n", l.hub, "link", "set", host, "master", "br0", "up")
		l.ip("-n", ns, "addr", "add", l.addr(i)+"/24", "dev", peer)
		l.ip("-n", ns, "link", "set", peer, "up")
		l.ip("-n", ns, "link", "set", "lo", "up")
	}
	return l
}

// addr is the address of the i-th namespace.
func (l *gossipLab) addr(i int) string { return "198.18.0." + strconv.Itoa(i+1) }

// setLink takes the namespace side of n's veth down (a silent cut: the
// other side's packets are dropped) or up.
func (l *gossipLab) setLink(n string, up bool) {
	state := "down"
	if up {
		state = "up"
	}
	l.ip("-n", l.ns[n], "link", "set", l.ns[n]+"n", state)
}

// command runs name with args inside namespace n.
func (l *gossipLab) command(n, name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns[n], name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// httpClient dials from inside namespace n.
func (l *gossipLab) httpClient(n string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: l.dialer(n), DisableKeepAlives: true}}
}

// memcache sends cmds to the cache at addr from inside namespace n and
// returns the reply up to and including the line ending in end.
func (l *gossipLab) memcache(n, addr, cmds, end string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := l.dialer(n)(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmds); err != nil {
		return "", err
	}
	var out strings.Builder
	r := bufio.NewReader(c)
	for !strings.HasSuffix(out.String(), end) {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			return out.String(), err
		}
	}
	return out.String(), nil
}

// dialer returns a dial function that creates its sockets inside
// namespace n.
func (l *gossipLab) dialer(n string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	path := "/var/run/netns/" + l.ns[n]
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The thread enters the namespace for the dial and goes
			// back; a socket stays in the namespace it was created in.
			// A thread that cannot go back stays locked, and Go retires
			// it when this goroutine ends. (Retiring threads otherwise
			// would kill the nodes: their Pdeathsig fires when the
			// thread that started them exits.)
			runtime.LockOSThread()
			c, err, back := dialIn(ctx, path, network, addr)
			if back {
				runtime.UnlockOSThread()
			}
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// dialIn dials addr from namespace path on the current (locked) thread
// and reports whether the thread is back in its own namespace.
func dialIn(ctx context.Context, path, network, addr string) (net.Conn, error, bool) {
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err, true
	}
	defer own.Close()
	f, err := os.Open(path)
	if err != nil {
		return nil, err, true
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("setns %s: %w", path, err), true
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	back := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil
	return c, err, back
}

// remove kills what runs in the lab's namespaces and deletes them.
func (l *gossipLab) remove() {
	for _, ns := range append(l.nsList(), l.hub) {
		deleteGossipNetns(ns)
	}
}

func (l *gossipLab) nsList() []string {
	var out []string
	for _, ns := range l.ns {
		out = append(out, ns)
	}
	return out
}

// deleteGossipNetns kills the processes inside ns and deletes it (with the veth
// ends inside).
func deleteGossipNetns(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			// Never this process: threads that dialled into the
			// namespace can make it show up.
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = exec.Command("ip", "netns", "del", ns).Run()
}

// removeLeftoverGossipLabs deletes namespaces and root-namespace veths that a
// run killed before its cleanup left behind: named gossipLabPrefix+pid with
// no such process any more.
func removeLeftoverGossipLabs(t *testing.T) {
	t.Helper()
	dead := func(name string) bool {
		rest, ok := strings.CutPrefix(name, gossipLabPrefix)
		if !ok {
			return false
		}
		i := strings.IndexByte(rest, '-')
		if i <= 0 {
			return false
		}
		pid, err := strconv.Atoi(rest[:i])
		if err != nil || pid == os.Getpid() {
			return false
		}
		_, err = os.Stat("/proc/" + strconv.Itoa(pid))
		return os.IsNotExist(err)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && dead(f[0]) {
				t.Logf("removing leftover namespace %s", f[0])
				deleteGossipNetns(f[0])
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if dead(name) {
				t.Logf("removing leftover link %s", name)
				_ = exec.Command("ip", "link", "del", name).Run()
			}
		}
	}
}
