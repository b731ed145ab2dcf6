package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

const testToken = "0123456789abcdef0123456789abcdef"

// tokenFile writes token to a new file of the given mode.
func tokenFile(t *testing.T, token string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(p, []byte(token+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

// startFleetNode starts a warming fleet node alone in zone a with the
// extra arguments and returns its admin address once it is ready.
func startFleetNode(t *testing.T, extra ...string) (string, *testproc.Process) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	gossip := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	args := append([]string{"--zone", "a", "--gossip-addr", gossip, "--gossip-profile", "local", "--admin-addr", addr,
		"--state", "warming"}, extra...)
	p := testproc.StartZonecached(t, args...)
	testproc.Eventually(t, deadline, "the admin listener answering", func() bool {
		return admin.New(addr).Healthy(context.Background()) == nil
	})
	return addr, p
}

// adminRequest sends method path to the admin address with the headers
// (name, value, ...) and returns the status and the answer.
func adminRequest(t *testing.T, method, addr, path string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// metricValue reads one sample's value from the node's /metrics.
func metricValue(t *testing.T, addr, sample string) float64 {
	t.Helper()
	_, body := adminRequest(t, http.MethodGet, addr, "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func TestAdminChangesNeedTheToken(t *testing.T) {
	addr, _ := startFleetNode(t, "--admin-token-file", tokenFile(t, testToken, 0o600))
	const json, promote = "application/json", "/state?to=serving"
	for _, c := range []struct {
		name    string
		headers []string
		code    int
		says    string
	}{
		{"no token", []string{"Content-Type", json}, 401, "Authorization: Bearer"},
		{"wrong token", []string{"Content-Type", json, "Authorization", "Bearer " + strings.Repeat("x", len(testToken))}, 401, "wrong admin token"},
		{"token of another scheme", []string{"Content-Type", json, "Authorization", "Basic " + testToken}, 401, "Authorization: Bearer"},
		{"cross-origin simple request", []string{"Content-Type", "text/plain", "Origin", "http://evil.example"}, 403, "cross-origin"},
		{"cross-origin with the token", []string{"Content-Type", json, "Origin", "http://evil.example", "Authorization", "Bearer " + testToken}, 403, "cross-origin"},
		{"rebound name as origin", []string{"Content-Type", json, "Origin", "http://evil.example:" + strings.Split(addr, ":")[1], "Authorization", "Bearer " + testToken}, 403, "cross-origin"},
		{"text/plain with the token", []string{"Content-Type", "text/plain", "Authorization", "Bearer " + testToken}, 403, "Content-Type: application/json"},
		{"form with the token", []string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer " + testToken}, 403, "Content-Type: application/json"},
	} {
		code, body := adminRequest(t, http.MethodPost, addr, promote, c.headers...)
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %q; want %d saying %q", c.name, code, body, c.code, c.says)
		}
	}
	if code, body := adminRequest(t, http.MethodGet, addr, "/state"); code != 200 || body != "warming" {
		t.Fatalf("after the refused requests GET /state = %d %q; want 200 warming", code, body)
	}
	if code, _ := adminRequest(t, http.MethodGet, addr, "/healthz", "Origin", "http://evil.example"); code != 403 {
		t.Errorf("cross-origin GET /healthz: %d; want 403", code)
	}
	for _, origin := range []string{"", "http://" + addr, "http://localhost:" + strings.Split(addr, ":")[1]} {
		for _, path := range []string{"/healthz", "/readyz", "/topology", "/state", "/metrics"} {
			want := 200
			if path == "/readyz" {
				want = 503 // served, and the node is warming
			}
			if code, body := adminRequest(t, http.MethodGet, addr, path, "Origin", origin); code != want {
				t.Errorf("GET %s (Origin %q) without a token: %d %q; want %d", path, origin, code, body, want)
			}
		}
	}

	if _, err := admin.New(addr).SetState(context.Background(), replication.Serving); !errors.Is(err, admin.ErrUnauthorized) {
		t.Fatalf("admin client without the token: %v; want admin.ErrUnauthorized", err)
	}
	c := &admin.Client{Addr: addr, Token: testToken}
	if s, err := c.SetState(context.Background(), replication.Serving); err != nil || s != replication.Serving {
		t.Fatalf("admin client with the token: %q, %v; want serving", s, err)
	}
	code, body := adminRequest(t, http.MethodPost, addr, "/state?to=draining", "Content-Type", json, "Authorization", "Bearer "+testToken, "Origin", "http://"+addr)
	if code != 200 || body != "draining" {
		t.Fatalf("same-origin POST with the token: %d %q; want 200 draining", code, body)
	}
	for reason, want := range map[string]float64{"missing_token": 3, "wrong_token": 1, "origin": 4, "content_type": 2} {
		if got := metricValue(t, addr, `zonecache_admin_denied_requests_total{reason="`+reason+`"}`); got != want {
			t.Errorf("denied requests for %s: %v; want %v", reason, got, want)
		}
	}
}

func TestAdminChangesRefusedWithoutAToken(t *testing.T) {
	addr, _ := startFleetNode(t)
	code, body := adminRequest(t, http.MethodPost, addr, "/state?to=serving", "Content-Type", "application/json")
	if code != 403 || !strings.Contains(body, "--admin-token-file") || !strings.Contains(body, "--admin-insecure") {
		t.Fatalf("POST /state on a node without a token: %d %q; want 403 naming --admin-token-file and --admin-insecure", code, body)
	}
	if _, body := adminRequest(t, http.MethodGet, addr, "/state"); body != "warming" {
		t.Fatalf("state after the refusal: %q; want warming", body)
	}
}

func TestAdminInsecureTakesChangesWithoutAToken(t *testing.T) {
	addr, _ := startFleetNode(t, "--admin-insecure")
	if code, body := adminRequest(t, http.MethodPost, addr, "/state?to=serving", "Content-Type", "text/plain"); code != 403 {
		t.Fatalf("simple request to an insecure node: %d %q; want 403", code, body)
	}
	if s, err := admin.New(addr).SetState(context.Background(), replication.Serving); err != nil || s != replication.Serving {
		t.Fatalf("SetState without a token on an insecure node: %q, %v; want serving", s, err)
	}
}

// A token file open to group or others stops zonecached at start.
func TestAdminTokenFileOpenToOthersIsRefused(t *testing.T) {
	bin := testproc.ZonecachedBinary(t)
	for _, mode := range []os.FileMode{0o644, 0o640} {
		var out bytes.Buffer
		cmd := exec.Command(bin, "-p", strconv.Itoa(testproc.FreePort(t, "127.0.0.1")), "--admin-addr", "127.0.0.1:0",
			"--admin-token-file", tokenFile(t, testToken, mode))
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(out.String(), "chmod 600") {
			t.Errorf("token file mode %#o: %v %q; want exit 2 saying chmod 600", mode, err, out.String())
		}
	}
}

func TestAdminFlags(t *testing.T) {
	var errs bytes.Buffer
	o, err := parseFlags(nil, &errs)
	if err != nil || o.admin.maxConns != 64 || o.cfg.AdminConns != 64 || o.admin.token != "" || o.admin.insecure {
		t.Fatalf("defaults: %+v %v", o.admin, err)
	}
	if o, err := parseFlags([]string{"--admin-addr", ""}, &errs); err != nil || o.cfg.AdminConns != 0 {
		t.Fatalf("no admin listener counts %d admin connections, %v", o.cfg.AdminConns, err)
	}
	f := tokenFile(t, testToken, 0o600)
	if o, err := parseFlags([]string{"--admin-token-file", f, "--admin-max-conns", "8"}, &errs); err != nil || o.admin.token != testToken || o.cfg.AdminConns != 8 {
		t.Fatalf("--admin-token-file: %+v %v", o.admin, err)
	}
	for _, bad := range [][]string{{"--admin-token-file", f, "--admin-insecure"}, {"--admin-max-conns", "0"},
		{"--admin-token-file", tokenFile(t, "short", 0o600)}, {"--admin-token-file", filepath.Join(t.TempDir(), "absent")}} {
		if _, err := parseFlags(bad, &errs); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// A topology watch outlives the admin listener's read timeout: the
// timeout bounds reading the request, not the wait for a change.
func TestAdminWatchOutlivesTheReadTimeout(t *testing.T) {
	addr, _ := startFleetNode(t)
	top, err := admin.New(addr).Topology(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wait := adminReadTimeout + 3*time.Second
	start := time.Now()
	after, err := admin.New(addr).WatchTopology(context.Background(), top.Epoch, wait)
	if took := time.Since(start); err != nil || took < wait-time.Second || after.Epoch != top.Epoch {
		t.Fatalf("watch after epoch %d for %v: epoch %d, %v after %v; want the same epoch after the whole wait", top.Epoch, wait, after.Epoch, err, took)
	}
}
