package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

const deadline = 30 * time.Second

func TestParseFlags(t *testing.T) {
	var errs bytes.Buffer
	o, err := parseFlags([]string{"-p", "4000", "--l", "127.0.0.2", "-m", "128", "-I", "2m", "-c", "10", "--admin-addr", ""}, &errs)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Addr != "127.0.0.2:4000" || o.cfg.MaxBytes != 128<<20 || o.cfg.MaxItemSize != 2<<20 || o.cfg.MaxConns != 10 || o.admin.addr != "" {
		t.Fatalf("parsed %+v admin %q", o.cfg, o.admin.addr)
	}
	o, err = parseFlags(nil, &errs)
	if err != nil || o.cfg.Addr != "127.0.0.1:11211" || o.cfg.MaxBytes != 64<<20 || o.cfg.MaxItemSize != 1<<20 ||
		o.cfg.MaxConns != 1024 || o.admin.addr != "127.0.0.1:12211" || o.cfg.TLS != nil {
		t.Fatalf("defaults: %+v %q %v", o.cfg, o.admin.addr, err)
	}
	if o.cfg.EventLoops != 0 {
		t.Fatalf("default --event-loops %d, want 0 (one per thread)", o.cfg.EventLoops)
	}
	if o, err := parseFlags([]string{"--event-loops", "-1"}, &errs); err != nil || o.cfg.EventLoops != -1 {
		t.Fatalf("--event-loops -1: %v %d", err, o.cfg.EventLoops)
	}
	if o, err := parseFlags([]string{"-I", "512k"}, &errs); err != nil || o.cfg.MaxItemSize != 512<<10 {
		t.Fatalf("-I 512k: %v %d", err, o.cfg.MaxItemSize)
	}
	// -I may be half of -m, not more (memcached refuses more, and the
	// store needs it), so -m 1 fails at parsing with the default -I 1m.
	if o, err := parseFlags([]string{"-m", "2"}, &errs); err != nil || o.cfg.MaxBytes != 2<<20 || o.cfg.MaxItemSize != 1<<20 {
		t.Fatalf("-m 2: %v %+v", err, o.cfg)
	}
	if _, err := parseFlags([]string{"-m", "1"}, &errs); err == nil || !strings.Contains(err.Error(), "half of -m") {
		t.Fatalf("-m 1: %v", err)
	}
	if o, err := parseFlags([]string{"--zone", "a", "--state", "serving", "--drain-timeout", "3s"}, &errs); err != nil ||
		o.fleet.zone != "a" || o.fleet.state != "serving" || o.fleet.drainTimeout != 3*time.Second {
		t.Fatalf("fleet flags: %v %+v", err, o.fleet)
	}
	for _, bad := range [][]string{{"-I", "10"}, {"-I", "2g"}, {"-I", "xm"}, {"-m", "0"}, {"-p", "70000"},
		{"-c", "0"}, {"--tls-cert", "x"}, {"--log-level", "loud"}, {"-m", "1", "-I", "2m"}, {"extra"},
		{"-m", "1"}, {"-m", "3", "-I", "2m"}, {"-m", "8", "-I", "5m"}, {"--event-loops", "-2"}} {
		if _, err := parseFlags(bad, &errs); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-h"}, &out, &out); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	fs := flag.NewFlagSet("zonecached", flag.ContinueOnError)
	defineFlags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		name := "  -" + f.Name
		help := out.String()
		if !strings.Contains(help, name+" ") && !strings.Contains(help, name+"\t") && !strings.Contains(help, name+"\n") {
			t.Errorf("-h does not document -%s:\n%s", f.Name, help)
		}
		if f.Usage == "" {
			t.Errorf("-%s has no usage text", f.Name)
		}
	})
	if n < 11 {
		t.Fatalf("only %d flags defined", n)
	}
}

func dialLine(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(deadline))
	return c, bufio.NewReader(c)
}

// statValue asks for stats on c and returns one counter.
func statValue(t *testing.T, c net.Conn, r *bufio.Reader, name string) int64 {
	t.Helper()
	fmt.Fprint(c, "stats\r\n")
	var v int64 = -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		if line == "END\r\n" {
			return v
		}
		if f := strings.Fields(line); len(f) == 3 && f[1] == name {
			v, _ = strconv.ParseInt(f[2], 10, 64)
		}
	}
}

func TestSIGTERMFinishesInFlightCommandAndExitsZero(t *testing.T) {
	p := testproc.StartZonecached(t)
	c, r := dialLine(t, p.Addr)
	line := "set k 0 0 10\r\n"
	fmt.Fprint(c, line+"01234") // the value is still arriving
	// The server adds a connection's bytes to bytes_read when it writes
	// out replies, which it does after parsing a storage command and before
	// waiting for the rest of its value: once bytes_read covers the line,
	// the set is in flight.
	probe, pr := dialLine(t, p.Addr)
	sent := 0
	stop := time.Now().Add(deadline)
	for {
		sent += len("stats\r\n")
		if statValue(t, probe, pr, "bytes_read") >= int64(len(line)+sent) {
			break
		}
		if time.Now().After(stop) {
			t.Fatal("the set never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Idle connections are closed and the listener stops accepting.
	if _, err := pr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection not closed after SIGTERM: %v", err)
	}
	for {
		nc, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(stop) {
			t.Fatal("still accepting connections after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprint(c, "56789\r\n")
	reply, err := r.ReadString('\n')
	if err != nil || reply != "STORED\r\n" {
		t.Fatalf("in-flight set after SIGTERM: %q %v", reply, err)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after the in-flight command: %v", err)
	}
	if err := p.Wait(deadline); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.Output())
	}
}

func TestConnectionLimit(t *testing.T) {
	p := testproc.StartZonecached(t, "-c", "2")
	a, ar := dialLine(t, p.Addr)
	// testproc's readiness probe may still be counted: wait until only
	// this connection is.
	stop := time.Now().Add(deadline)
	for statValue(t, a, ar, "curr_connections") != 1 {
		if time.Now().After(stop) {
			t.Fatal("curr_connections never came down to 1")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b, br := dialLine(t, p.Addr)
	fmt.Fprint(b, "version\r\n")
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "VERSION ") {
		t.Fatalf("second connection: %q %v", line, err)
	}
	c, cr := dialLine(t, p.Addr)
	out, _ := io.ReadAll(cr)
	if string(out) != "ERROR Too many open connections\r\n" {
		t.Fatalf("third connection got %q", out)
	}
	c.Close()
	if v := statValue(t, a, ar, "rejected_connections"); v != 1 {
		t.Fatalf("rejected_connections = %d", v)
	}
	fmt.Fprint(a, "set k 0 0 1\r\nv\r\n")
	if line, _ := ar.ReadString('\n'); line != "STORED\r\n" {
		t.Fatalf("first connection after the refusal: %q", line)
	}
}

func TestAdminListener(t *testing.T) {
	port := testproc.FreePort(t, "127.0.0.1")
	admin := "127.0.0.1:" + strconv.Itoa(port)
	testproc.StartZonecached(t, "--admin-addr", admin)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		var resp *http.Response
		var err error
		stop := time.Now().Add(deadline)
		for {
			resp, err = http.Get("http://" + admin + path)
			if err == nil || time.Now().After(stop) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), "zonecache_server_connections") {
			t.Fatalf("/metrics lacks zonecache_server_connections")
		}
	}
}

// memccapable -a is libmemcached's ASCII protocol conformance check.
func TestMemccapable(t *testing.T) {
	bin, err := exec.LookPath("memccapable")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("memccapable is not installed (apt-get install libmemcached-tools)")
		}
		t.Skip("memccapable not installed")
	}
	p := testproc.StartZonecached(t)
	out, err := exec.Command(bin, "-a", "-h", p.Host, "-p", strconv.Itoa(p.Port)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "All tests passed") {
		t.Fatalf("memccapable -a: %v\n%s", err, out)
	}
}
