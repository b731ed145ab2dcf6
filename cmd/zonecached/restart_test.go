package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// roundTrip sends cmd and reads reply lines up to and including the last
// line for which done reports true.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, cmd string, done func(line string) bool) []string {
	t.Helper()
	if _, err := fmt.Fprint(c, cmd); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: %v after %q", cmd, err, lines)
		}
		lines = append(lines, strings.TrimSuffix(line, "\r\n"))
		if done(lines[len(lines)-1]) {
			return lines
		}
	}
}

func isEnd(line string) bool { return line == "END" }

// getsLine returns the VALUE line of key (key flags bytes cas) and its
// value, or "" when it misses.
func getsLine(t *testing.T, c net.Conn, r *bufio.Reader, key string) (header, value string) {
	t.Helper()
	lines := roundTrip(t, c, r, "gets "+key+"\r\n", isEnd)
	if len(lines) == 1 {
		return "", ""
	}
	return lines[0], lines[1]
}

func casOf(t *testing.T, header string) uint64 {
	t.Helper()
	f := strings.Fields(header)
	cas, err := strconv.ParseUint(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("cas of %q: %v", header, err)
	}
	return cas
}

// stopAndRestart stops p with SIGTERM, checks it exited 0 and starts a new
// zonecached with args.
func stopAndRestart(t *testing.T, p *testproc.Process, args ...string) *testproc.Process {
	t.Helper()
	if err := p.Terminate(deadline); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.Output())
	}
	return testproc.StartZonecached(t, args...)
}

func TestWarmRestartKeepsValuesFlagsTTLAndCAS(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache")
	p := testproc.StartZonecached(t, "--restart-file", file)
	c, r := dialLine(t, p.Addr)
	soon := time.Now().Add(2 * time.Second).Unix() // an absolute exptime: gone while the node is down
	for _, cmd := range []string{
		"set forever 5 0 3\r\nabc\r\n",
		"set ttl 7 100 5\r\nhello\r\n",
		"set soon 1 " + strconv.FormatInt(soon, 10) + " 1\r\nx\r\n",
		"set bin 4294967295 0 4\r\n\x00\r\n\xff\r\n",
	} {
		roundTrip(t, c, r, cmd, func(string) bool { return true })
	}
	before := map[string][2]string{}
	var maxCAS uint64
	for _, k := range []string{"forever", "ttl", "bin"} {
		h, v := getsLine(t, c, r, k)
		before[k] = [2]string{h, v}
		maxCAS = max(maxCAS, casOf(t, h))
	}
	if err := p.Terminate(deadline); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.Output())
	}
	if !strings.Contains(p.Output(), "restart file saved") {
		t.Fatalf("no save logged:\n%s", p.Output())
	}
	for time.Now().Unix() <= soon { // wait out the expiry of "soon"
		time.Sleep(50 * time.Millisecond)
	}

	p = testproc.StartZonecached(t, "-e", file)
	if !strings.Contains(p.Output(), "restart file loaded") || !strings.Contains(p.Output(), "items=3 expired_since=1") {
		t.Fatalf("load not logged as 3 items and 1 expired:\n%s", p.Output())
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the loaded restart file is still there (%v): a crash would bring it back", err)
	}
	c, r = dialLine(t, p.Addr)
	for k, want := range before {
		h, v := getsLine(t, c, r, k)
		if h != want[0] || v != want[1] {
			t.Errorf("%s after restart: %q %q, want %q %q", k, h, v, want[0], want[1])
		}
	}
	if h, _ := getsLine(t, c, r, "soon"); h != "" {
		t.Errorf("an item that expired while the node was down is served: %q", h)
	}
	ttl := roundTrip(t, c, r, "mg ttl t\r\n", func(string) bool { return true })[0]
	if n, err := strconv.Atoi(strings.TrimPrefix(ttl, "HD t")); err != nil || n <= 0 || n > 100 {
		t.Errorf("remaining TTL of ttl after restart: %q", ttl)
	}
	roundTrip(t, c, r, "set new 0 0 1\r\nn\r\n", func(string) bool { return true })
	h, _ := getsLine(t, c, r, "new")
	if cas := casOf(t, h); cas <= maxCAS {
		t.Errorf("a write after the restart got CAS %d, not above the restored %d", cas, maxCAS)
	}
	if got := roundTrip(t, c, r, "cas forever 5 0 1 "+strconv.FormatUint(casOf(t, before["forever"][0]), 10)+"\r\nz\r\n",
		func(string) bool { return true }); got[0] != "STORED" {
		t.Errorf("cas with the CAS read before the restart: %q", got)
	}
}

func TestWarmRestartFileThatDoesNotValidateStartsEmpty(t *testing.T) {
	for name, spoil := range map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)-5] },
		"corrupt":   func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		"foreign":   func([]byte) []byte { return []byte("not a snapshot at all, but long enough") },
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "cache")
			p := testproc.StartZonecached(t, "--restart-file", file)
			c, r := dialLine(t, p.Addr)
			roundTrip(t, c, r, "set k 0 0 5\r\nvalue\r\n", func(string) bool { return true })
			if err := p.Terminate(deadline); err != nil {
				t.Fatalf("exit: %v\n%s", err, p.Output())
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, spoil(b), 0o600); err != nil {
				t.Fatal(err)
			}
			p = testproc.StartZonecached(t, "--restart-file", file)
			if !strings.Contains(p.Output(), "restart file not valid: starting empty") {
				t.Fatalf("no log line for a %s file:\n%s", name, p.Output())
			}
			c, r = dialLine(t, p.Addr)
			if h, _ := getsLine(t, c, r, "k"); h != "" {
				t.Fatalf("served %q from a %s restart file", h, name)
			}
		})
	}
}

func TestWarmRestartKilledDuringSaveLeavesNoHalfFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache")
	p := testproc.StartZonecached(t, "-m", "512", "--restart-file", file)
	c, r := dialLine(t, p.Addr)
	// 300 MB to save: long enough for the test to see the save under way.
	const items = 3000
	value := bytes.Repeat([]byte("v"), 100_000)
	w := bufio.NewWriterSize(c, 1<<20)
	for i := range items {
		fmt.Fprintf(w, "set key-%d 0 0 %d noreply\r\n%s\r\n", i, len(value), value)
	}
	w.Flush()
	if n := statValue(t, c, r, "curr_items"); n != items {
		t.Fatalf("%d items stored, want %d", n, items)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testproc.Eventually(t, deadline, "the save to start", func() bool {
		_, err := os.Stat(file + ".tmp")
		return err == nil || p.Exited()
	})
	p.Kill()
	if p.Exited() && strings.Contains(p.Output(), "restart file saved") {
		t.Skipf("the save finished before the kill; nothing to check:\n%s", p.Output())
	}
	_, err := os.Stat(file)
	complete := err == nil // the kill came after the rename: the file must load whole
	if !complete && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}

	p = testproc.StartZonecached(t, "-m", "512", "--restart-file", file)
	want, wantLog := int64(0), "no restart file: starting empty"
	if complete {
		want, wantLog = items, "restart file loaded"
	}
	if !strings.Contains(p.Output(), wantLog) {
		t.Fatalf("start after a killed save (file left: %v): want %q in\n%s", complete, wantLog, p.Output())
	}
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the killed save's temporary file is left (%v)", err)
	}
	c, r = dialLine(t, p.Addr)
	if n := statValue(t, c, r, "curr_items"); n != want {
		t.Fatalf("%d items after a killed save (file left: %v), want %d", n, complete, want)
	}
	// The next clean stop saves again.
	p = stopAndRestart(t, p, "--restart-file", file)
	if !strings.Contains(p.Output(), "restart file loaded") {
		t.Fatalf("no load after a clean stop:\n%s", p.Output())
	}
}

func TestWarmRestartRefusedInAFleet(t *testing.T) {
	var errs bytes.Buffer
	if _, err := parseFlags([]string{"--zone", "a", "-e", "/tmp/x"}, &errs); !errors.Is(err, ErrRestartInFleet) {
		t.Fatalf("--restart-file with --zone: %v", err)
	}
	o, err := parseFlags([]string{"-e", "/tmp/x"}, &errs)
	if err != nil || o.cfg.RestartFile != "/tmp/x" {
		t.Fatalf("-e: %v %q", err, o.cfg.RestartFile)
	}
	var out bytes.Buffer
	if code := run([]string{"--zone", "a", "--restart-file", filepath.Join(t.TempDir(), "f")}, &out, &out); code != 2 ||
		!strings.Contains(out.String(), "fleet node (--zone) that comes back must start empty") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}
