package server

import (
	"bufio"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/internal/testproc"
)

// authScript is sent one step at a time (memcached 1.6.18 answers only the
// last of several unauthenticated commands read at once), each step
// answered by one reply.
var authScript = []string{
	"get a\r\n", "version\r\n", "quit\r\n", "mn\r\n", "\r\n", "stats\r\n", "flush_all\r\n",
	"set x 0 7\r\n", "settle x 0 0 7\r\n", "set x 0 0 -1\r\n", "set x 0 0 abc\r\n", "add x 0 0 7\r\n", "SET x 0 0 7\r\n",
	"set x 0 0 7\r\nbob pwX\r\n",
	"set x 0 0 4\r\nbob \r\n",
	"set x 0 0 4\r\n pw2\r\n",
	"set x 0 0 0\r\n\r\n",
	"set x 0 0 7\r\nbob\tpw2\r\n",
	"set x 0 0 7\r\nbob pw2XX",
	"set x 0 0 11\r\nbob:pw2 xxx\r\n",
	"set x 0 0 7\r\nbobb pw\r\n",
	"get x\r\n",
	"set k 5 100 16 noreply\r\nbob  pw2   extra\r\n",
	"get k\r\n",
	"set x 0 0 7\r\nbob pwX\r\n",
	"gets x\r\n",
	"mg x v\r\n",
}

// TestAuthAsMemcached runs the same authentication script against
// memcached -Y and zonecached with the same credentials: every reply,
// and the auth_cmds and auth_errors counters, match.
func TestAuthAsMemcached(t *testing.T) {
	testproc.RequireMemcached(t)
	file := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(file, []byte("alice:secret\nbob:pw2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mc := testproc.StartMemcached(t, "-Y", file)
	s, zc := startServer(t, Config{Credentials: []Credential{{"alice", "secret"}, {"bob", "pw2"}}})
	want, got := authReplies(t, mc.Addr), authReplies(t, zc)
	if got != want {
		t.Errorf("replies differ from memcached 1.6.18 -Y\n%s", lineDiff(want, got))
	}
	if !strings.Contains(want, "STORED\r\nEND\r\n") || !strings.Contains(want, "CLIENT_ERROR authentication failure") {
		t.Errorf("the script did not authenticate: %q", want)
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	if _, body := get(t, admin.URL+"/metrics"); !strings.Contains(body, "zonecache_server_auth_errors_total 3\n") {
		t.Errorf("/metrics does not count the 3 refused attempts")
	}
}

// authReplies runs authScript on a fresh connection, then reads the auth
// counters.
func authReplies(t *testing.T, addr string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(nc)
	var out strings.Builder
	for _, step := range append(authScript, "stats\r\n") {
		if _, err := nc.Write([]byte(step)); err != nil {
			t.Fatal(err)
		}
		out.WriteString(readReply(t, r))
	}
	counters := regexp.MustCompile(`STAT auth_(cmds|errors) \d+\r\n`)
	return strings.Join(counters.FindAllString(out.String(), -1), "") +
		regexp.MustCompile(`(?s)STAT .*END\r\n`).ReplaceAllString(out.String(), "")
}

// readReply reads one reply: a line, or lines up to END or EN.
func readReply(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var out strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read reply: %v after %q", err, out.String())
		}
		out.WriteString(line)
		if !strings.HasPrefix(line, "VALUE ") && !strings.HasPrefix(line, "STAT ") && !strings.HasPrefix(line, "VA ") {
			return out.String()
		}
		if strings.HasPrefix(line, "VA ") {
			l, _ := r.ReadString('\n')
			out.WriteString(l)
			return out.String()
		}
	}
}

// A first line longer than memcached's limit closes an unauthenticated
// connection, as memcached -Y does, even a multi-get that an
// authenticated connection may send.
func TestAuthLongFirstLineCloses(t *testing.T) {
	_, addr := startServer(t, Config{Credentials: []Credential{{"u", "p"}}})
	c := dial(t, addr)
	c.send("get " + strings.Repeat("k ", protocol.MaxLineLength))
	if out, closed := c.closed(); !closed || out != "" {
		t.Fatalf("closed %v, read %q", closed, out)
	}
	c = dial(t, addr)
	c.send("set a 0 0 100000\r\n")
	if out, closed := c.closed(); !closed || out != "" {
		t.Fatalf("an oversized attempt: closed %v, read %q", closed, out)
	}
}

// flush_all with -F is refused as memcached -F refuses it, noreply and
// argument errors included, and counted in cmd_flush.
func TestDisableFlushAllAsMemcached(t *testing.T) {
	testproc.RequireMemcached(t)
	script := "set a 0 0 1\r\nx\r\nflush_all\r\nflush_all 0\r\nflush_all noreply\r\nflush_all bogus\r\n" +
		"flush_all 10 noreply\r\nflush_all 1 2 3\r\nget a\r\n"
	mc := testproc.StartMemcached(t, "-F")
	_, zc := startServer(t, Config{DisableFlushAll: true})
	cmdFlush := regexp.MustCompile(`STAT cmd_flush \d+\r\n`)
	var replies [2]string
	for i, addr := range []string{mc.Addr, zc} {
		c := dial(t, addr)
		replies[i] = c.do(script) + cmdFlush.FindString(c.do("stats\r\n"))
	}
	if replies[0] != replies[1] {
		t.Errorf("replies differ from memcached 1.6.18 -F\n%s", lineDiff(replies[0], replies[1]))
	}
	if !strings.Contains(replies[1], "CLIENT_ERROR flush_all not allowed\r\n") || !strings.Contains(replies[1], "VALUE a 0 1\r\n") {
		t.Errorf("flush_all was not refused: %q", replies[1])
	}
}

// A connection that waits longer than IdleTimeout for a command is closed;
// one that keeps sending commands is not.
func TestIdleTimeoutClosesIdleConnections(t *testing.T) {
	s, addr := startServer(t, Config{IdleTimeout: time.Second})
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	idle, busy := dial(t, addr), dial(t, addr)
	idle.do("version\r\n")
	start := time.Now()
	deadline := start.Add(ioDeadline)
	for time.Now().Before(deadline) {
		if got := busy.do("version\r\n"); got != "VERSION "+Version+"\r\n" {
			t.Fatalf("busy connection: %q", got)
		}
		_ = idle.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := idle.r.ReadByte(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if waited := time.Since(start); waited < time.Second {
				t.Fatalf("idle connection closed after %v, before the idle timeout", waited)
			}
			if _, body := get(t, admin.URL+"/metrics"); !strings.Contains(body, `zonecache_server_closed_connections_total{reason="idle"} 1`+"\n") {
				t.Errorf("/metrics does not count the idle connection closed:\n%s", body)
			}
			return
		}
		t.Fatal("idle connection received data")
	}
	t.Fatal("idle connection still open")
}
