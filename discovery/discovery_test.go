package discovery

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/membership"
	"github.com/zonecache/zonecache/replication"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// member starts a gossiping member and serves its /topology over real HTTP.
func member(t *testing.T, name, zone string, join ...string) (*membership.Member, *httptest.Server) {
	t.Helper()
	m, err := membership.Start(context.Background(), membership.Config{
		NodeName: name, Zone: zone, State: replication.Serving,
		CacheAddr: fmt.Sprintf("127.0.0.1:%d", 20000+crc32.ChecksumIEEE([]byte(name))%20000),
		// The local preset's own failure detection (1 s probes): these
		// tests follow joins, and a shorter probe on a loaded machine
		// declares live members dead and makes views flap.
		Join: join, Profile: "local", Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv
}

func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func names(t replication.Topology) string {
	var s []string
	for _, n := range t.Nodes {
		s = append(s, n.ID)
	}
	return strings.Join(s, ",")
}

func TestFetchSkipsDeadSeeds(t *testing.T) {
	_, srv := member(t, "a1", "a")
	top, err := Fetch(context.Background(), Config{Seeds: []string{deadAddr(t), srv.URL}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if names(top) != "a1" {
		t.Fatalf("topology %s", names(top))
	}
	_, err = Fetch(context.Background(), Config{Seeds: []string{deadAddr(t)}, RequestTimeout: time.Second, Logger: quiet()})
	if !errors.Is(err, ErrNoSeed) {
		t.Fatalf("all seeds dead: err %v", err)
	}
}

// recorder collects applied topologies.
type recorder struct {
	mu   sync.Mutex
	last replication.Topology
	n    int
}

func (r *recorder) apply(t replication.Topology) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.n = t, r.n+1
	return nil
}

func (r *recorder) names() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return names(r.last)
}

func TestWatchFollowsChangesAndSurvivesASeedDying(t *testing.T) {
	a, srvA := member(t, "a1", "a")
	b, srvB := member(t, "b1", "b", a.GossipAddr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rec recorder
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Config{Seeds: []string{srvA.URL, srvB.URL}, Wait: 5 * time.Second,
			RetryMin: 50 * time.Millisecond, Logger: quiet()}, replication.Topology{}, rec.apply)
	}()
	testproc.Eventually(t, 10*time.Second, "both members applied", func() bool { return rec.names() == "a1,b1" })

	// A node that joins appears in the client's topology (the 3 s
	// bound is asserted end to end in internal/e2e; this clock also counts
	// the member's start, so a loaded machine gets more room here).
	start := time.Now()
	member(t, "c1", "c", a.GossipAddr())
	testproc.Eventually(t, 10*time.Second, "joined member applied", func() bool { return rec.names() == "a1,b1,c1" })
	t.Logf("join seen by the watcher after %v", time.Since(start))

	// The first seed's HTTP listener dies: the watch moves to the other seed
	// and keeps the last topology meanwhile. The other seed must have
	// learnt of c1 first: a seed whose gossip still lacks it serves a view
	// that empties zone c, which Watch applies when no other seed answers
	// (a real zone loss may have no other seed to confirm it: shrink.held).
	testproc.Eventually(t, 10*time.Second, "seed b knows c1", func() bool { return names(b.Topology()) == "a1,b1,c1" })
	srvA.CloseClientConnections()
	srvA.Close()
	if rec.names() != "a1,b1,c1" {
		t.Fatalf("topology dropped when a seed died: %s", rec.names())
	}
	member(t, "d1", "a", a.GossipAddr())
	deadline := time.Now().Add(30 * time.Second)
	for rec.names() != "a1,b1,c1,d1" {
		if time.Now().After(deadline) {
			t.Fatalf("change not seen through the second seed within 30 s: watcher has %s, seed b has %s, member a has %s",
				rec.names(), names(b.Topology()), names(a.Topology()))
		}
		time.Sleep(10 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestWatchNeverAppliesAnEmptyTopology(t *testing.T) {
	var hits int
	var mu sync.Mutex
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		_, _ = io.WriteString(w, `{"epoch":99,"nodes":[]}`)
	}))
	defer empty.Close()
	ctx, cancel := context.WithCancel(context.Background())
	initial := replication.Topology{Epoch: 1, Nodes: []replication.Node{{ID: "a1", Zone: "a", Addr: "127.0.0.1:1"}}}
	var rec recorder
	rec.last = initial
	go func() {
		_ = Watch(ctx, Config{Seeds: []string{empty.URL}, Wait: time.Second, RetryMin: 10 * time.Millisecond,
			RetryMax: 20 * time.Millisecond, Logger: quiet()}, initial, rec.apply)
	}()
	testproc.Eventually(t, 10*time.Second, "several polls of the empty seed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return hits >= 3
	})
	cancel()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.n != 0 || names(rec.last) != "a1" {
		t.Fatalf("empty topology applied: n=%d last=%s", rec.n, names(rec.last))
	}
}

// A seed that answers at once without long-polling (a static topology file
// ignores after and wait) is polled every RetryMin, not in a busy loop.
func TestWatchDoesNotSpinOnASeedThatDoesNotLongPoll(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		_, _ = io.WriteString(w, `{"epoch":7,"nodes":[{"id":"a1","zone":"a","addr":"127.0.0.1:1"}]}`)
	}))
	defer static.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var rec recorder
	err := Watch(ctx, Config{Seeds: []string{static.URL}, Wait: 10 * time.Second, RetryMin: 200 * time.Millisecond,
		Logger: quiet()}, replication.Topology{}, rec.apply)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Watch: %v", err)
	}
	if got := rec.names(); got != "a1" {
		t.Fatalf("applied %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	// About 1 s / 200 ms requests; a busy loop makes thousands.
	if hits > 50 {
		t.Fatalf("%d requests in 1 s to a seed that does not long-poll", hits)
	}
}

func TestWatchAppliesIncreasingEpochsAcrossSeeds(t *testing.T) {
	// Two seeds with their own epoch clocks: the second reports a newer
	// view under a lower epoch.
	var mu sync.Mutex
	body := `{"epoch":500,"nodes":[{"id":"a1","zone":"a","addr":"127.0.0.1:1"}]}`
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, body)
	}))
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"epoch":7,"nodes":[{"id":"a1","zone":"a","addr":"127.0.0.1:1"},{"id":"b1","zone":"b","addr":"127.0.0.1:2"}]}`)
	}))
	defer second.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []replication.Topology
	var gmu sync.Mutex
	go func() {
		_ = Watch(ctx, Config{Seeds: []string{first.URL, second.URL}, Wait: time.Second, RetryMin: 10 * time.Millisecond,
			RequestTimeout: time.Second, Logger: quiet()}, replication.Topology{}, func(t replication.Topology) error {
			gmu.Lock()
			got = append(got, t)
			gmu.Unlock()
			return nil
		})
	}()
	testproc.Eventually(t, 10*time.Second, "the first seed's view applied", func() bool {
		gmu.Lock()
		defer gmu.Unlock()
		return len(got) == 1
	})
	first.CloseClientConnections()
	first.Close() // the watch moves to the second seed
	testproc.Eventually(t, 10*time.Second, "the second seed's newer view applied", func() bool {
		gmu.Lock()
		defer gmu.Unlock()
		return len(got) == 2
	})
	gmu.Lock()
	defer gmu.Unlock()
	if got[0].Epoch != 500 || got[1].Epoch <= got[0].Epoch || len(got[1].Nodes) != 2 {
		t.Fatalf("applied epochs %d then %d (%d nodes); want strictly increasing", got[0].Epoch, got[1].Epoch, len(got[1].Nodes))
	}
}

// A topology that apply refuses is not taken as applied: Watch logs it and
// offers the seed's view again after a backoff, without waiting for the
// fleet to change (the seed long-polls for 30 s here, so a retry can only
// come from the refusal).
func TestWatchRetriesARefusedTopology(t *testing.T) {
	_, srv := member(t, "a1", "a")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var calls []string
	refused := errors.New("refused for the test")
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Config{Seeds: []string{srv.URL}, Wait: 30 * time.Second, RetryMin: 20 * time.Millisecond,
			RetryMax: 40 * time.Millisecond, Logger: quiet()}, replication.Topology{}, func(top replication.Topology) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, names(top))
			if len(calls) <= 2 {
				return refused
			}
			return nil
		})
	}()
	testproc.Eventually(t, 10*time.Second, "the view offered again after two refusals", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) >= 3
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 3 || calls[0] != "a1" || calls[2] != "a1" {
		t.Fatalf("apply calls %q; want the same view three times, then none once accepted", calls)
	}
}
