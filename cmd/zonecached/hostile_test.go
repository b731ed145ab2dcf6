package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/server"
)

// The hostile-client suite: each attack on the cache port runs against a
// real zonecached while a probe client sets and gets a small and a large
// value every 100 ms on its own connection. Every test asserts what the
// attack gets, that the probe saw no failure, and that resident memory
// stayed within the stated bound (server.Config.MemoryBound, the README's
// formula), at the defaults and at -m 8 -c 16.

// hostileSizes are the server sizes each attack runs at: flags, the
// Config they mean (for the memory bound) and how many attacking
// connections fit beside the probe.
var hostileSizes = []struct {
	name  string
	flags []string
	cfg   server.Config
	conns int
}{
	{"defaults", nil, server.Config{}, 1024},
	{"m8c16", []string{"-m", "8", "-c", "16"}, server.Config{MaxBytes: 8 << 20, MaxConns: 16}, 16},
}

// hostileAuth is the user the suite's servers with --auth-file accept.
const hostileAuth = "probe secret"

// writeAuthFile writes an authfile for hostileAuth, readable by its owner
// only.
func writeAuthFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(path, []byte(strings.Replace(hostileAuth, " ", ":", 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// probe sets and gets a small and a large value every 100 ms on one
// connection, opened before the attack, and counts failures.
type probe struct {
	rounds, failures atomic.Int64
	lastErr          atomic.Value
	stop             chan struct{}
	done             chan struct{}
}

// probeLarge is the probe's large value: above the read buffer and the
// reply size that are charged against the large-value budget.
const probeLarge = 200 << 10

func startProbe(t *testing.T, addr string, auth bool) *probe {
	t.Helper()
	nc, r := dialRaw(t, addr)
	if auth {
		if got := exchangeLines(nc, r, authCommand(hostileAuth), 1); got != "STORED\r\n" {
			t.Fatalf("probe authentication: %q", got)
		}
	}
	p := &probe{stop: make(chan struct{}), done: make(chan struct{})}
	go p.run(nc, r)
	t.Cleanup(p.halt)
	return p
}

func (p *probe) run(nc net.Conn, r *bufio.Reader) {
	defer close(p.done)
	defer nc.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		if err := probeRound(nc, r, i); err != nil {
			p.failures.Add(1)
			p.lastErr.Store(err)
		}
		p.rounds.Add(1)
	}
}

// probeRound writes and reads back a small and a large value.
func probeRound(nc net.Conn, r *bufio.Reader, i int) error {
	for _, size := range []int{10, probeLarge} {
		value := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		key := fmt.Sprintf("probe:%d", size)
		set := fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", key, size, value)
		if got := exchangeLines(nc, r, set, 1); got != "STORED\r\n" {
			return fmt.Errorf("round %d: set %d bytes: %.100q", i, size, got)
		}
		want := fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\nEND\r\n", key, size, value)
		if got := exchangeLines(nc, r, "get "+key+"\r\n", 3); got != want {
			return fmt.Errorf("round %d: get %d bytes: %.100q", i, size, got)
		}
	}
	return nil
}

// await waits for n more rounds of the probe: the attack goes on
// meanwhile.
func (p *probe) await(t *testing.T, n int64) {
	t.Helper()
	want := p.rounds.Load() + n
	testproc.Eventually(t, time.Minute, "probe rounds", func() bool { return p.rounds.Load() >= want })
}

// halt stops the probe and waits for its last round.
func (p *probe) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// check stops the probe and fails the test unless it ran and never failed.
func (p *probe) check(t *testing.T) {
	t.Helper()
	p.halt()
	if n := p.failures.Load(); n > 0 {
		t.Errorf("probe: %d of %d rounds failed; last: %v", n, p.rounds.Load(), p.lastErr.Load())
	}
	if p.rounds.Load() < 5 {
		t.Errorf("probe ran only %d rounds", p.rounds.Load())
	}
}

// rssWatch samples a process's resident memory every 20 ms.
type rssWatch struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func watchRSS(t *testing.T, p *testproc.Process) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			if rss, err := p.RSSBytes(); err == nil && rss > w.peak.Load() {
				w.peak.Store(rss)
			}
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.halt)
	return w
}

func (w *rssWatch) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// check fails the test if resident memory went beyond cfg's bound.
func (w *rssWatch) check(t *testing.T, cfg server.Config) {
	t.Helper()
	w.halt()
	peak, bound := w.peak.Load(), cfg.MemoryBound()
	t.Logf("peak RSS %.1f MiB, bound %.1f MiB", float64(peak)/(1<<20), float64(bound)/(1<<20))
	if peak == 0 || peak > bound {
		t.Errorf("peak RSS %d bytes, bound %d", peak, bound)
	}
}

// hostileRun starts zonecached with args at each size, a probe and an RSS
// watch, runs attack, then checks the probe and the memory bound.
func hostileRun(t *testing.T, args []string, auth bool, attack func(t *testing.T, addr string, conns int, pr *probe)) {
	for _, size := range hostileSizes {
		t.Run(size.name, func(t *testing.T) {
			proc := testproc.StartZonecached(t, append(append([]string{}, size.flags...), args...)...)
			rss := watchRSS(t, proc)
			pr := startProbe(t, proc.Addr, auth)
			pr.await(t, 2)
			attack(t, proc.Addr, size.conns-2, pr) // room for the probe and one spare
			pr.await(t, 3)
			pr.check(t)
			rss.check(t, size.cfg)
		})
	}
}

func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc, bufio.NewReader(nc)
}

// dialMany opens n connections.
func dialMany(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i], _ = dialRaw(t, addr)
	}
	return conns
}

// exchangeLines sends req and reads lines replies lines, within 10 s; an
// error is returned as the text read.
func exchangeLines(nc net.Conn, r *bufio.Reader, req string, lines int) string {
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		return "write: " + err.Error()
	}
	var out strings.Builder
	for range lines {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			return out.String() + " read: " + err.Error()
		}
		if lines > 1 && (line == "END\r\n" || strings.HasPrefix(line, "SERVER_ERROR") || strings.HasPrefix(line, "CLIENT_ERROR")) {
			break
		}
	}
	return out.String()
}

func authCommand(userPass string) string {
	return fmt.Sprintf("set auth 0 0 %d\r\n%s\r\n", len(userPass), userPass)
}

// closedWith waits until the server closes nc and returns what it sent
// first.
func closedWith(nc net.Conn, within time.Duration) (string, bool) {
	_ = nc.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), false
	}
	return string(b), true
}

// With --auth-file, a client that has not authenticated gets nothing but
// "CLIENT_ERROR unauthenticated" (flush_all, the dumps, reads and writes
// included) and a wrong password "CLIENT_ERROR authentication failure";
// the authenticated probe is unaffected.
func TestHostileUnauthenticatedCommands(t *testing.T) {
	hostileRun(t, []string{"--auth-file", writeAuthFile(t)}, true, func(t *testing.T, addr string, _ int, _ *probe) {
		nc, r := dialRaw(t, addr)
		for _, cmd := range []string{"flush_all\r\n", "lru_crawler metadump all\r\n", "stats cachedump 1 0\r\n",
			"get probe:10\r\n", "mg probe:10 v\r\n", "md probe:10\r\n", "delete probe:10\r\n", "stats\r\n", "version\r\n"} {
			if got := exchangeLines(nc, r, cmd, 1); got != "CLIENT_ERROR unauthenticated\r\n" {
				t.Errorf("%q before authenticating: %q", cmd, got)
			}
		}
		if got := exchangeLines(nc, r, authCommand("probe wrong"), 1); got != "CLIENT_ERROR authentication failure\r\n" {
			t.Errorf("wrong password: %q", got)
		}
		if got := exchangeLines(nc, r, "get probe:10\r\n", 1); got != "CLIENT_ERROR unauthenticated\r\n" {
			t.Errorf("get after a failed attempt: %q", got)
		}
	})
}

// With -F, flush_all is refused as memcached -F refuses it and items
// survive it.
func TestHostileFlushAllDisabled(t *testing.T) {
	hostileRun(t, []string{"-F"}, false, func(t *testing.T, addr string, _ int, _ *probe) {
		nc, r := dialRaw(t, addr)
		if got := exchangeLines(nc, r, "set mine 0 0 1\r\nx\r\n", 1); got != "STORED\r\n" {
			t.Fatalf("set: %q", got)
		}
		for range 10 {
			if got := exchangeLines(nc, r, "flush_all\r\n", 1); got != "CLIENT_ERROR flush_all not allowed\r\n" {
				t.Fatalf("flush_all: %q", got)
			}
		}
		if got := exchangeLines(nc, r, "get mine\r\n", 3); got != "VALUE mine 0 1\r\nx\r\nEND\r\n" {
			t.Fatalf("an item after flush_all: %q", got)
		}
	})
}

// The attack: connections that announce a large value, send 1 KB
// of it and stall. They hold none of the large-value budget, and are
// closed with an error after --value-timeout.
func TestHostileHalfSentValues(t *testing.T) {
	for _, n := range []int{32, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			hostileRun(t, []string{"--value-timeout", "3s"}, false, func(t *testing.T, addr string, conns int, pr *probe) {
				attackers := dialMany(t, addr, min(n, conns))
				for i, nc := range attackers {
					if _, err := fmt.Fprintf(nc, "set half%d 0 0 1048000\r\n%s", i, strings.Repeat("x", 1024)); err != nil {
						t.Fatal(err)
					}
				}
				pr.await(t, 5)
				for i, nc := range attackers {
					if got, closed := closedWith(nc, 30*time.Second); !closed || got != "SERVER_ERROR timed out reading the value\r\n" {
						t.Fatalf("attacker %d: closed %v after %q", i, closed, got)
					}
				}
			})
		})
	}
}

// Connections that send all of a large value but its last byte hold it
// against the budget; when another client needs the budget they are
// closed, the longest stalled first, and the others after
// --value-timeout, all with an error.
func TestHostileNearlySentValues(t *testing.T) {
	hostileRun(t, []string{"--value-timeout", "3s"}, false, func(t *testing.T, addr string, conns int, pr *probe) {
		attackers := dialMany(t, addr, min(32, conns))
		for i, nc := range attackers {
			if _, err := fmt.Fprintf(nc, "set near%d 0 0 1048000\r\n%s", i, strings.Repeat("x", 1048000-1)); err != nil {
				t.Fatal(err)
			}
		}
		pr.await(t, 10)
		for i, nc := range attackers {
			if got, closed := closedWith(nc, 30*time.Second); !closed || !strings.HasPrefix(got, "SERVER_ERROR ") {
				t.Fatalf("attacker %d: closed %v after %q", i, closed, got)
			}
		}
	})
}

// Clients that pipeline gets of a large value and never read the replies
// hold at most one value each against the budget, lose it when others
// need it, and are closed after --value-timeout.
func TestHostileSlowReaders(t *testing.T) {
	hostileRun(t, []string{"--value-timeout", "3s"}, false, func(t *testing.T, addr string, conns int, pr *probe) {
		nc, r := dialRaw(t, addr)
		big := strings.Repeat("b", 1000_000)
		if got := exchangeLines(nc, r, "set big 0 0 1000000\r\n"+big+"\r\n", 1); got != "STORED\r\n" {
			t.Fatalf("set big: %q", got)
		}
		readers := dialMany(t, addr, min(32, conns-1))
		gets := strings.Repeat("get big\r\n", 64)
		for _, rd := range readers {
			go func() { _, _ = io.WriteString(rd, gets) }() // blocks once the server stops reading
		}
		pr.await(t, 5)
		var wg sync.WaitGroup
		for i, rd := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Wait for the server to close the reader without reading
				// from the socket: a read would drain the replies.
				if !closedByServer(rd, 60*time.Second) {
					t.Errorf("slow reader %d still open", i)
				}
			}()
		}
		wg.Wait()
	})
}

// closedByServer reports whether the server closes nc within d, detected
// by a write failing, without reading what it sent.
func closedByServer(nc net.Conn, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := nc.Write([]byte("mn\r\n")); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// Idle connections are closed after --idle-timeout, freeing their slots
// for new clients; the probe, which is never idle, is not.
func TestHostileIdleConnections(t *testing.T) {
	hostileRun(t, []string{"--idle-timeout", "2s"}, false, func(t *testing.T, addr string, conns int, pr *probe) {
		idle := dialMany(t, addr, min(500, conns))
		start := time.Now()
		for i, nc := range idle {
			got, closed := closedWith(nc, 30*time.Second)
			if !closed || got != "" {
				t.Fatalf("idle connection %d: closed %v after %q", i, closed, got)
			}
		}
		if waited := time.Since(start); waited < 2*time.Second {
			t.Fatalf("idle connections closed after %v, before the idle timeout", waited)
		}
		fresh := dialMany(t, addr, min(500, conns))
		for _, nc := range fresh {
			if got := exchangeLines(nc, bufio.NewReader(nc), "version\r\n", 1); !strings.HasPrefix(got, "VERSION ") {
				t.Fatalf("a new connection after the idle ones closed: %q", got)
			}
		}
	})
}
