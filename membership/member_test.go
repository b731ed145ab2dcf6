package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startMember starts a member on 127.0.0.1 with a free gossip port and fast
// failure detection, stopped when the test ends.
func startMember(t *testing.T, name, zone string, mutate func(*Config)) *Member {
	t.Helper()
	cfg := Config{
		NodeName:      name,
		Zone:          zone,
		CacheAddr:     "127.0.0.1:" + fmt.Sprint(20000+int(crc32.ChecksumIEEE([]byte(name))%20000)),
		Profile:       "local",
		ProbeInterval: 200 * time.Millisecond,
		Logger:        quiet(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func ids(t replication.Topology) string {
	var s []string
	for _, n := range t.Nodes {
		s = append(s, n.ID+"="+string(n.State))
	}
	return strings.Join(s, ",")
}

func TestMembersSeeJoinStateChangeAndLeave(t *testing.T) {
	a := startMember(t, "a1", "a", nil)
	b := startMember(t, "b1", "b", func(c *Config) { c.Join = []string{a.GossipAddr()}; c.State = replication.Serving })
	c := startMember(t, "c1", "c", func(c *Config) { c.Join = []string{a.GossipAddr()} })

	want := "a1=warming,b1=serving,c1=warming"
	for _, m := range []*Member{a, b, c} {
		testproc.Eventually(t, 10*time.Second, "every member sees all three", func() bool { return ids(m.Topology()) == want })
	}
	if err := a.Topology().Validate(); err != nil {
		t.Fatalf("gossiped topology invalid: %v", err)
	}

	before := c.Topology().Epoch
	if err := a.SetState(context.Background(), replication.Serving); err != nil {
		t.Fatal(err)
	}
	testproc.Eventually(t, 10*time.Second, "c sees a1 serving", func() bool {
		return strings.Contains(ids(c.Topology()), "a1=serving")
	})
	if after := c.Topology().Epoch; after <= before {
		t.Fatalf("epoch did not grow on a change: %d -> %d", before, after)
	}

	if err := b.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	testproc.Eventually(t, 10*time.Second, "a and c drop the member that left", func() bool {
		return !strings.Contains(ids(a.Topology()), "b1") && !strings.Contains(ids(c.Topology()), "b1")
	})
}

func TestCrashedMemberIsRemoved(t *testing.T) {
	a := startMember(t, "a1", "a", nil)
	b := startMember(t, "b1", "b", func(c *Config) { c.Join = []string{a.GossipAddr()} })
	testproc.Eventually(t, 10*time.Second, "a sees b", func() bool { return strings.Contains(ids(a.Topology()), "b1") })
	_ = b.Shutdown() // no leave message: a must detect the failure
	testproc.Eventually(t, 30*time.Second, "a removes the crashed member", func() bool {
		return !strings.Contains(ids(a.Topology()), "b1")
	})
}

func TestFleetsWithDifferentLabelsOrKeysDoNotMerge(t *testing.T) {
	key1 := []byte("0123456789abcdef")
	key2 := []byte("fedcba9876543210")
	a := startMember(t, "a1", "a", func(c *Config) { c.Label = "blue"; c.SecretKey = key1 })
	// Same key, other label.
	if _, err := Start(context.Background(), Config{NodeName: "x1", Zone: "a", CacheAddr: "127.0.0.1:1",
		Label: "green", SecretKey: key1, Join: []string{a.GossipAddr()}, RequireJoin: true, Profile: "local", Logger: quiet()}); !errors.Is(err, ErrJoin) {
		t.Fatalf("join across labels: err = %v, want ErrJoin", err)
	}
	// Same label, other key.
	if _, err := Start(context.Background(), Config{NodeName: "y1", Zone: "a", CacheAddr: "127.0.0.1:2",
		Label: "blue", SecretKey: key2, Join: []string{a.GossipAddr()}, RequireJoin: true, Profile: "local", Logger: quiet()}); !errors.Is(err, ErrJoin) {
		t.Fatalf("join with another key: err = %v, want ErrJoin", err)
	}
	// No key at all.
	if _, err := Start(context.Background(), Config{NodeName: "z1", Zone: "a", CacheAddr: "127.0.0.1:3",
		Label: "blue", Join: []string{a.GossipAddr()}, RequireJoin: true, Profile: "local", Logger: quiet()}); !errors.Is(err, ErrJoin) {
		t.Fatalf("join without the key: err = %v, want ErrJoin", err)
	}
	// Same label and key: joins.
	b := startMember(t, "b1", "b", func(c *Config) { c.Label = "blue"; c.SecretKey = key1; c.Join = []string{a.GossipAddr()} })
	testproc.Eventually(t, 10*time.Second, "matching member joins", func() bool {
		return ids(a.Topology()) == "a1=warming,b1=warming" && len(b.Topology().Nodes) == 2
	})
}

func TestMetaTooLargeIsAnError(t *testing.T) {
	_, err := Start(context.Background(), Config{Zone: strings.Repeat("z", 600), CacheAddr: "127.0.0.1:1", Logger: quiet()})
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("err = %v, want ErrMetaTooLarge", err)
	}
}

func TestTopologyHTTPWatch(t *testing.T) {
	a := startMember(t, "a1", "a", nil)
	srv := httptest.NewServer(a)
	defer srv.Close()

	get := func(query string) replication.Topology {
		resp, err := http.Get(srv.URL + "/topology" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		top, err := replication.DecodeTopology(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return top
	}
	first := get("")
	if len(first.Nodes) != 1 || first.Nodes[0].ID != "a1" {
		t.Fatalf("topology %+v", first)
	}
	// A watch returns when the epoch passes the one given.
	done := make(chan replication.Topology, 1)
	go func() { done <- get(fmt.Sprintf("?after=%d&wait=30s", first.Epoch)) }()
	startMember(t, "b1", "b", func(c *Config) { c.Join = []string{a.GossipAddr()} })
	select {
	case top := <-done:
		if top.Epoch <= first.Epoch {
			t.Fatalf("watch returned epoch %d, not after %d", top.Epoch, first.Epoch)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not return after a change")
	}
	resp, err := http.Get(srv.URL + "/topology?after=x&wait=1s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad after: status %d", resp.StatusCode)
	}
	var raw map[string]any
	resp, _ = http.Get(srv.URL + "/topology")
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	resp.Body.Close()
	if _, ok := raw["epoch"]; !ok {
		t.Fatalf("JSON has no epoch: %v", raw)
	}
}

func TestLeftMemberStopsAnsweringForTheFleet(t *testing.T) {
	a := startMember(t, "a1", "a", nil)
	srv := httptest.NewServer(a)
	defer srv.Close()
	done := make(chan int, 1)
	url := fmt.Sprintf("%s/topology?after=%d&wait=30s", srv.URL, a.Topology().Epoch)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	if err := a.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != http.StatusServiceUnavailable {
			t.Fatalf("a watch on a member that left got status %d, want 503", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a watch on a member that left did not return")
	}
}

// A negative weight or a cache address without a port makes
// replication.Topology.Validate reject the whole topology, so one member
// advertising it would stop every client from following the fleet: they are
// refused at Start and ignored in gossip.
func TestInvalidAdvertisementIsRefused(t *testing.T) {
	_, err := Start(context.Background(), Config{Zone: "a", CacheAddr: "127.0.0.1:1", Weight: -1, Logger: quiet()})
	if err == nil {
		t.Fatal("Start accepted a negative weight")
	}
	if _, err := decodeMeta([]byte(`{"z":"a","a":"127.0.0.1:1","w":-1,"s":"serving"}`)); err == nil {
		t.Fatal("decodeMeta accepted a negative weight")
	}
	if _, err := Start(context.Background(), Config{Zone: "a", CacheAddr: "127.0.0.1", Logger: quiet()}); err == nil {
		t.Fatal("Start accepted a cache address without a port")
	}
	if _, err := decodeMeta([]byte(`{"z":"a","a":"127.0.0.1","s":"serving"}`)); err == nil {
		t.Fatal("decodeMeta accepted a cache address without a port")
	}
	if _, err := decodeMeta([]byte(`{"z":"a","a":"127.0.0.1:1","w":2,"s":"serving"}`)); err != nil {
		t.Fatalf("decodeMeta: %v", err)
	}
}

// SetState with a context whose deadline has passed still advertises the
// state but returns the context's error at once, instead of waiting without
// limit for the broadcast (memberlist treats a timeout <= 0 as none).
func TestSetStateHonoursAnExpiredDeadline(t *testing.T) {
	a := startMember(t, "a1", "a", nil)
	b := startMember(t, "b1", "b", func(c *Config) { c.Join = []string{a.GossipAddr()} })
	testproc.Eventually(t, 10*time.Second, "a sees b", func() bool { return strings.Contains(ids(a.Topology()), "b1") })
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := a.SetState(ctx, replication.Serving); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SetState past the deadline: %v, want DeadlineExceeded", err)
	}
	if a.State() != replication.Serving {
		t.Fatalf("state %s, want serving", a.State())
	}
	testproc.Eventually(t, 10*time.Second, "b sees a serving", func() bool { return strings.Contains(ids(b.Topology()), "a1=serving") })
}

// Start gives up joining when its context ends: a seed that accepts TCP
// connections and never answers would otherwise hold it for memberlist's
// TCP timeout (10 s with the lan profile) per seed.
func TestStartHonoursContextWhileJoining(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and stay silent until the listener closes
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	m, err := Start(ctx, Config{NodeName: "j1", Zone: "a", CacheAddr: "127.0.0.1:1", Join: []string{ln.Addr().String()}, Logger: quiet()})
	if err == nil {
		_ = m.Shutdown()
		t.Fatal("Start joined a silent seed")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Start took %v after its context ended", d)
	}
}

// The admin handler answers GET and POST /state in plain text (the admin
// client's wire format) and passes other paths to the server's handler.
func TestAdminHandlerState(t *testing.T) {
	a := startMember(t, "a1", "a", nil)
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "next\n") })
	srv := httptest.NewServer(a.AdminHandler(next))
	defer srv.Close()
	call := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/state", 200, "warming\n"},
		{"POST", "/state?to=serving", 200, "serving\n"},
		{"GET", "/state", 200, "serving\n"},
		{"POST", "/state?to=sleeping", 400, "to: want joining, warming, serving or draining\n"},
		{"GET", "/metrics", 200, "next\n"},
	} {
		if code, body := call(c.method, c.path); code != c.code || body != c.body {
			t.Errorf("%s %s = %d %q, want %d %q", c.method, c.path, code, body, c.code, c.body)
		}
	}
	if code, body := call("GET", "/topology"); code != 200 || !strings.Contains(body, `"a1"`) {
		t.Errorf("GET /topology = %d %q", code, body)
	}
}

// GET /readyz answers 200 only while the member serves reads: serving or
// draining (a reshard's new node at the switch serves reads); warming and
// a member that left answer 503 with the reason.
func TestReadyzFollowsTheState(t *testing.T) {
	a := startMember(t, "a1", "a", nil)
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })
	srv := httptest.NewServer(a.AdminHandler(next))
	defer srv.Close()
	readyz := func() (int, string) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	ctx := context.Background()
	for _, c := range []struct {
		state replication.NodeState
		code  int
		body  string
	}{
		{replication.Warming, 503, "warming: serving no reads\n"},
		{replication.Serving, 200, "ready\n"},
		{replication.Draining, 200, "ready\n"},
		{replication.Joining, 503, "joining: serving no reads\n"},
	} {
		if err := a.SetState(ctx, c.state); err != nil {
			t.Fatal(err)
		}
		if code, body := readyz(); code != c.code || body != c.body {
			t.Errorf("%s: /readyz = %d %q, want %d %q", c.state, code, body, c.code, c.body)
		}
	}
	if err := a.SetState(ctx, replication.Serving); err != nil {
		t.Fatal(err)
	}
	_ = a.Leave(time.Second)
	if code, body := readyz(); code != 503 || !strings.HasPrefix(body, "left the fleet") {
		t.Errorf("after Leave: /readyz = %d %q, want 503 left the fleet", code, body)
	}
}
