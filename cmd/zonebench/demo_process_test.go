package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// The demo's generous bounds: a loaded 2-core machine starts six nodes and
// a gossiping fleet slowly, but stopping must not wait for the run's end.
const (
	demoStartWithin = 90 * time.Second
	demoStopWithin  = 30 * time.Second // a gossiping node drains for at most 2 s, then SIGKILL after 5 s
)

// nodeLine is how the demo lists a node it started: id, zone, cache
// address and admin address.
var nodeLine = regexp.MustCompile(`(?m)^\s+(\S+)\s+zone (\S+)\s+cache (\S+)\s+admin http://(\S+)$`)

// demoNodes returns the cache addresses of the nodes the demo has listed
// in out, and their admin addresses by node id.
func demoNodes(out string) (caches []string, admins map[string]string) {
	admins = map[string]string{}
	for _, m := range nodeLine.FindAllStringSubmatch(out, -1) {
		caches = append(caches, m[3])
		admins[m[1]] = m[4]
	}
	return caches, admins
}

// zonecachedOn returns the pids of running zonecached processes whose
// command line says they listen on addr (-l HOST -p PORT). It reads /proc,
// so it finds them whoever their parent is now.
func zonecachedOn(t *testing.T, addr string) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var pids []int
	for _, d := range dirs {
		if pid, err := strconv.Atoi(d.Name()); err == nil && isZonecachedOn(pid, addr) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isZonecachedOn reports whether process pid runs and is a zonecached
// started to listen on addr.
func isZonecachedOn(pid int, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	// A process that exited (or a zombie) has no command line.
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return false
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	value := func(flag string) string {
		if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	return filepath.Base(args[0]) == "zonecached" && value("-l") == host && value("-p") == port
}

// demoNodePids returns, for each cache address, the pid of the one
// zonecached listening there.
func demoNodePids(t *testing.T, caches []string, out string) map[string]int {
	t.Helper()
	if len(caches) != 6 {
		t.Fatalf("the demo listed %d nodes, want 6:\n%s", len(caches), out)
	}
	pids := map[string]int{}
	for _, a := range caches {
		found := zonecachedOn(t, a)
		if len(found) != 1 {
			t.Fatalf("zonecached on %s: pids %v, want one", a, found)
		}
		pids[a] = found[0]
	}
	return pids
}

// wantNoNodeLeft fails if any of the demo's zonecached processes still
// runs.
func wantNoNodeLeft(t *testing.T, pids map[string]int, out string) {
	t.Helper()
	for a, pid := range pids {
		if isZonecachedOn(pid, a) {
			t.Errorf("zonecached on %s (pid %d) outlived the demo\noutput:\n%s", a, pid, out)
		}
	}
}

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestDemoFailsWhenCallersSeeErrors: once every node of the fleet is killed
// callers cannot be served, and the demo must say so in its last line and
// exit 1 instead of 0.
func TestDemoFailsWhenCallersSeeErrors(t *testing.T) {
	bin := testproc.ZonecachedBinary(t)
	var out, errOut testproc.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	ended := false
	t.Cleanup(func() { // a failed test still stops the demo and its fleet
		cancel()
		if !ended {
			<-done
		}
	})
	go func() {
		done <- run(ctx, []string{"demo", "--zonecached", bin, "--gossip=false", "--duration", "4s",
			"--concurrency", "4", "--keys", "500"}, &out, &errOut, false)
	}()
	testproc.Eventually(t, demoStartWithin, "the demo starts its fleet and client", func() bool {
		return strings.Contains(out.String(), "client in zone a; workload")
	})
	caches, _ := demoNodes(out.String())
	for a, pid := range demoNodePids(t, caches, out.String()) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill node %s (pid %d): %v", a, pid, err)
		}
	}
	var code int
	select {
	case code = <-done:
		ended = true
	case <-time.After(2 * time.Minute):
		t.Fatalf("the demo did not end\n%s", out.String())
	}
	report := out.String()
	if code != 1 {
		t.Fatalf("exit %d, want 1 with every node dead\nstdout:\n%s\nstderr:\n%s", code, report, errOut.String())
	}
	last := lastLine(report)
	m := regexp.MustCompile(`^FAIL: callers saw (\d+) errors in \d+ operations \(expected 0\)$`).FindStringSubmatch(last)
	if m == nil || m[1] == "0" {
		t.Fatalf("last line %q does not report the callers' errors:\n%s", last, report)
	}
	// The summary row's errors column says the same.
	row := regexp.MustCompile(`client in zone a\)\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)\s`).FindStringSubmatch(report)
	if row == nil || row[1] != m[1] {
		t.Fatalf("summary row %q disagrees with the last line %q:\n%s", row, last, report)
	}
}

// demoProcess is a zonebench demo running as its own process, as `make
// run` starts it.
type demoProcess struct {
	cmd  *exec.Cmd
	out  testproc.SyncBuffer // stdout and stderr
	done chan struct{}
	err  error
}

// startDemo builds zonebench and zonecached and starts `zonebench demo`
// with args; the process is killed when the test ends if still running.
func startDemo(t *testing.T, args ...string) *demoProcess {
	t.Helper()
	zc := testproc.ZonecachedBinary(t)
	zb := testproc.Binary(t, "zonebench")
	d := &demoProcess{done: make(chan struct{})}
	d.cmd = exec.Command(zb, append([]string{"demo", "--zonecached", zc}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start zonebench demo: %v", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// waitFor waits until the demo's output contains s; the demo must not exit
// before.
func (d *demoProcess) waitFor(t *testing.T, s string) {
	t.Helper()
	testproc.Eventually(t, demoStartWithin, "zonebench demo prints "+strconv.Quote(s), func() bool {
		select {
		case <-d.done:
			t.Fatalf("zonebench demo exited (%v) before printing %q:\n%s", d.err, s, d.out.String())
		default:
		}
		return strings.Contains(d.out.String(), s)
	})
}

// interrupt sends SIGINT (Ctrl-C) and returns the exit code once the demo
// has exited, which must be within demoStopWithin.
func (d *demoProcess) interrupt(t *testing.T) int {
	t.Helper()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(demoStopWithin):
		t.Fatalf("zonebench demo still running %v after SIGINT:\n%s", demoStopWithin, d.out.String())
	}
	var exit *exec.ExitError
	if d.err != nil && !errors.As(d.err, &exit) {
		t.Fatalf("zonebench demo: %v", d.err)
	}
	return d.cmd.ProcessState.ExitCode()
}

// serverHits reads zonecache_server_hits_total from a node's admin
// /metrics (0 if it cannot).
func serverHits(admin string) float64 {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "zonecache_server_hits_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestDemoInterruptedStopsEveryNode runs the built demo (a run of two
// minutes), interrupts it with SIGINT once the workload reads from the
// fleet, and checks that it exits promptly, says it was interrupted, and
// leaves none of its zonecached processes behind.
func TestDemoInterruptedStopsEveryNode(t *testing.T) {
	d := startDemo(t, "--duration", "2m", "--concurrency", "4", "--keys", "500")
	d.waitFor(t, "client in zone a; workload")
	caches, admins := demoNodes(d.out.String())
	pids := demoNodePids(t, caches, d.out.String())
	// The prefill only writes; hits in the client's zone mean the measured
	// workload runs.
	testproc.Eventually(t, demoStartWithin, "the workload reads from zone a", func() bool {
		return serverHits(admins["a-1"])+serverHits(admins["a-2"]) > 0
	})
	code := d.interrupt(t)
	out := d.out.String()
	if code != 1 {
		t.Errorf("exit %d after SIGINT, want 1 (interrupted)\n%s", code, out)
	}
	if last := lastLine(out); !strings.HasPrefix(last, "INTERRUPTED: ") {
		t.Errorf("last line %q does not say the run was interrupted\n%s", last, out)
	}
	wantNoNodeLeft(t, pids, out)
}

// TestDemoKeepLeavesFleetUpUntilInterrupted runs the built demo with
// --keep: after the report the surviving nodes stay up and answer where the
// demo says, and SIGINT then stops all of them.
func TestDemoKeepLeavesFleetUpUntilInterrupted(t *testing.T) {
	// Zone a is lost 2 s into the run: its nodes are found before.
	d := startDemo(t, "--keep", "--duration", "4s", "--concurrency", "4", "--keys", "500")
	d.waitFor(t, "client in zone a; workload")
	caches, _ := demoNodes(d.out.String())
	pids := demoNodePids(t, caches, d.out.String())
	d.waitFor(t, "the fleet stays up; Ctrl-C stops it")
	out := d.out.String()
	if !strings.Contains(out, "OK: callers saw 0 errors") {
		t.Fatalf("no OK verdict before the fleet is kept:\n%s", out)
	}
	// How to reach the fleet: nc to a node, curl its admin listener.
	nc := regexp.MustCompile(`nc -q1 (\S+) (\d+)`).FindStringSubmatch(out)
	curl := regexp.MustCompile(`curl (http://\S+/topology)`).FindStringSubmatch(out)
	if nc == nil || curl == nil {
		t.Fatalf("no nc or curl line:\n%s", out)
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(nc[1], nc[2]), 5*time.Second)
	if err != nil {
		t.Fatalf("the node the demo names does not answer: %v\n%s", err, out)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "version\r\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.HasPrefix(line, "VERSION 1.6") {
		t.Fatalf("version from %s:%s: %q, %v", nc[1], nc[2], line, err)
	}
	resp, err := http.Get(curl[1])
	if err != nil {
		t.Fatalf("GET %s: %v", curl[1], err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"nodes"`) {
		t.Fatalf("GET %s: %d %s", curl[1], resp.StatusCode, body)
	}
	// Zones b and c are up (zone a was lost during the run).
	up := 0
	for a, pid := range pids {
		if isZonecachedOn(pid, a) {
			up++
		}
	}
	if up != 4 {
		t.Fatalf("%d nodes up while kept, want 4 (zones b and c)\n%s", up, out)
	}

	code := d.interrupt(t)
	out = d.out.String()
	if code != 0 {
		t.Errorf("exit %d after Ctrl-C of a kept fleet, want 0\n%s", code, out)
	}
	if !strings.Contains(out, "stopping the fleet") || !strings.HasPrefix(lastLine(out), "OK: ") {
		t.Errorf("no stop message or verdict at the end:\n%s", out)
	}
	wantNoNodeLeft(t, pids, out)
}
