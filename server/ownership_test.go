package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/server/internal/store"
)

// topoSource is a settable topology with a change channel, as
// membership.Member offers (the e2e tests run the real gossip).
type topoSource struct {
	mu      sync.Mutex
	t       replication.Topology
	changed chan struct{}
}

func newTopoSource(t replication.Topology) *topoSource {
	return &topoSource{t: t, changed: make(chan struct{})}
}

func (s *topoSource) Topology() replication.Topology {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t
}

func (s *topoSource) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *topoSource) set(t replication.Topology) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Epoch = s.t.Epoch + 1
	s.t = t
	close(s.changed)
	s.changed = make(chan struct{})
}

func zoneA(states ...replication.NodeState) replication.Topology {
	var t replication.Topology
	for i, st := range states {
		if st != "" {
			t.Nodes = append(t.Nodes, replication.Node{ID: fmt.Sprint("a", i+1), Zone: "a", Addr: fmt.Sprintf("127.0.0.1:%d", 30001+i), State: st})
		}
	}
	// Another zone changes nothing for zone a.
	t.Nodes = append(t.Nodes, replication.Node{ID: "b1", Zone: "b", Addr: "127.0.0.1:30100"})
	return t
}

func putKey(t *testing.T, s *Server, key string) {
	t.Helper()
	if _, err := s.store.Update([]byte(key), func(*store.Entry) store.Op {
		return store.Op{Action: store.Put, Value: [][]byte{[]byte("v")}}
	}); err != nil {
		t.Fatal(err)
	}
}

func hasKey(s *Server, key string) bool { return s.store.Get([]byte(key), nil) }

// holdsOf returns the keys of keys that self holds in zone a of topo.
func holdsOf(t *testing.T, topo replication.Topology, self string, keys []string) map[string]bool {
	t.Helper()
	p, err := replication.NewPlacement(topo, OwnershipConfig{}.Sharding)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range keys {
		if p.Zone("a").HoldsString(self, k) {
			out[k] = true
		}
	}
	return out
}

// TestPurgeUnownedFollowsEveryMove walks node a1 through a join, a
// promotion, a late write from a lagging client, a move back and the
// views that must change nothing, checking the store after each.
func TestPurgeUnownedFollowsEveryMove(t *testing.T) {
	s, _ := startServer(t, Config{Logger: slog.New(slog.DiscardHandler)})
	var keys []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprint("key-", i))
		putKey(t, s, keys[i])
	}
	S, W := replication.Serving, replication.Warming
	two := zoneA(S, S)
	src := newTopoSource(two)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// A long window: only changes purge, unless a test step says otherwise.
	go func() { done <- s.PurgeUnowned(ctx, src, OwnershipConfig{Self: "a1", Window: time.Hour}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("PurgeUnowned: %v", err)
		}
	})

	held := holdsOf(t, two, "a1", keys)
	expectExactly(t, s, keys, held, "two serving nodes")
	if got := s.own.purged.Load(); got != int64(len(keys)-len(held)) {
		t.Fatalf("purged counter %d, want %d", got, len(keys)-len(held))
	}

	// a3 joins warming: a1 still serves the reads of the keys a3 takes.
	passes := s.own.passes.Load()
	src.set(zoneA(S, S, W))
	testproc.Eventually(t, 20*time.Second, "a pass after a3 joins", func() bool { return s.own.passes.Load() > passes })
	expectExactly(t, s, keys, held, "a3 warming")
	promoted := zoneA(S, S, S)
	src.set(promoted)
	heldAfter := holdsOf(t, promoted, "a1", keys)
	expectExactly(t, s, keys, heldAfter, "a3 promoted")
	if len(heldAfter) >= len(held) || len(heldAfter) == 0 {
		t.Fatalf("a1 holds %d keys after a3 serves, %d before", len(heldAfter), len(held))
	}

	// A client with a lagging view writes keys a3 owns to a1, then a3
	// drains: a1 becomes the keys' write owner, and must not keep the
	// late copies that are older than what a3 received meanwhile.
	var late []string
	for _, k := range keys {
		if held[k] && !heldAfter[k] {
			late = append(late, k)
			putKey(t, s, k)
			if len(late) == 20 {
				break
			}
		}
	}
	src.set(zoneA(S, S, replication.Draining))
	testproc.Eventually(t, 20*time.Second, "the late copies are purged at the move back", func() bool {
		for _, k := range late {
			if hasKey(s, k) {
				return false
			}
		}
		return true
	})
	// Writes made since the drain began stay.
	for _, k := range late {
		putKey(t, s, k)
	}

	// A lone node, a view without itself and a joining self purge nothing.
	before := s.own.purged.Load()
	src.set(zoneA(S))
	src.set(zoneA("", S, S))
	src.set(zoneA(replication.Joining, S, S))
	src.set(zoneA(S, S, replication.Draining)) // same zone as before the three: no pass
	for _, k := range late {
		if !hasKey(s, k) {
			t.Fatalf("%s written after the drain began was purged", k)
		}
	}
	if got := s.own.purged.Load(); got != before {
		t.Fatalf("views that change nothing purged %d items", got-before)
	}
}

// TestPurgeUnownedSweepsLateWrites checks that a write reaching a node
// that does not own the key (a client with an old view) is removed by the
// sweeps that follow a change, within the window.
func TestPurgeUnownedSweepsLateWrites(t *testing.T) {
	s, _ := startServer(t, Config{Logger: slog.New(slog.DiscardHandler)})
	topo := zoneA(replication.Serving, replication.Serving)
	var k string
	for i := 0; ; i++ {
		if k = fmt.Sprint("key-", i); len(holdsOf(t, topo, "a1", []string{k})) == 0 {
			break
		}
	}
	putKey(t, s, k)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = s.PurgeUnowned(ctx, newTopoSource(topo), OwnershipConfig{Self: "a1", Window: 4 * time.Second, Sweeps: 4})
	}()
	testproc.Eventually(t, 20*time.Second, "the first pass removes the key", func() bool { return !hasKey(s, k) })
	first := s.own.passes.Load()
	putKey(t, s, k)
	testproc.Eventually(t, 20*time.Second, "a sweep removes the late write", func() bool { return !hasKey(s, k) })
	if s.own.passes.Load() == first {
		t.Fatal("no sweep ran, yet the key is gone")
	}
	if !errors.Is((&Server{}).PurgeUnowned(ctx, nil, OwnershipConfig{}), ErrNoSelf) {
		t.Fatal("PurgeUnowned without Self did not fail with ErrNoSelf")
	}
}

// expectExactly waits until the store holds exactly the keys of held.
func expectExactly(t *testing.T, s *Server, keys []string, held map[string]bool, what string) {
	t.Helper()
	testproc.Eventually(t, 20*time.Second, what+": the store holds exactly the owned keys", func() bool {
		for _, k := range keys {
			if hasKey(s, k) != held[k] {
				return false
			}
		}
		return true
	})
}

// TestPurgeUnownedWeightChange: a2's weight grows, a1 drops the keys a2
// takes; a late write of one of them reaches a1 (a lagging client); the
// weight goes back and a1 must not serve that copy.
func TestPurgeUnownedWeightChange(t *testing.T) {
	s, _ := startServer(t, Config{Logger: slog.New(slog.DiscardHandler)})
	var keys []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprint("key-", i))
		putKey(t, s, keys[i])
	}
	even := zoneA(replication.Serving, replication.Serving)
	heavy := zoneA(replication.Serving, replication.Serving)
	heavy.Nodes[1].Weight = 4
	src := newTopoSource(even)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = s.PurgeUnowned(ctx, src, OwnershipConfig{Self: "a1", Window: time.Hour}) }()
	held := holdsOf(t, even, "a1", keys)
	expectExactly(t, s, keys, held, "even weights")
	src.set(heavy)
	heldHeavy := holdsOf(t, heavy, "a1", keys)
	expectExactly(t, s, keys, heldHeavy, "a2 weight 4")
	var late string
	for _, k := range keys {
		if held[k] && !heldHeavy[k] {
			late = k
			break
		}
	}
	putKey(t, s, late)
	src.set(even)
	testproc.Eventually(t, 20*time.Second, "the late copy is purged when the key comes back", func() bool { return !hasKey(s, late) })
}

// BenchmarkOwnershipPass measures one purge pass over 500,000 items that
// the node keeps (the common case: a change that moves nothing of its),
// with two views to check, as at a change.
func BenchmarkOwnershipPass(b *testing.B) {
	s, err := New(Config{MaxBytes: 256 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, err := replication.NewPlacement(zoneA(replication.Serving), OwnershipConfig{}.Sharding)
	if err != nil {
		b.Fatal(err)
	}
	two, _ := replication.NewPlacement(zoneA(replication.Serving, replication.Joining), OwnershipConfig{}.Sharding)
	views := []view{{zone: p.Zone("a")}, {zone: two.Zone("a")}}
	const n = 500_000
	for i := range n {
		k := []byte(fmt.Sprint("bench-key-", i))
		if _, err := s.store.Update(k, func(*store.Entry) store.Op {
			return store.Op{Action: store.Put, Value: [][]byte{[]byte("value")}}
		}); err != nil {
			b.Fatal(err)
		}
	}
	o := &ownership{s: s, cfg: OwnershipConfig{Self: "a1"}, log: s.log}
	b.ResetTimer()
	for b.Loop() {
		o.pass(context.Background(), views, "bench")
	}
	b.StopTimer()
	if got := s.store.Stats().Items; got != n {
		b.Fatalf("the pass removed items: %d left of %d", got, n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/item")
}

// TestPurgeUnownedMissedPromotion: a1's gossip view goes from a3 warming
// straight to a3 draining (the promotion and a3's serving time came and
// went between two of its snapshots, as a late gossip can make them).
// Meanwhile clients wrote a3's keys to a3 only, so a1's copies are old:
// a1 is still a target of those keys (their write owner beside draining
// a3), yet must drop them.
func TestPurgeUnownedMissedPromotion(t *testing.T) {
	s, _ := startServer(t, Config{Logger: slog.New(slog.DiscardHandler)})
	var keys []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprint("key-", i))
		putKey(t, s, keys[i])
	}
	S := replication.Serving
	warming := zoneA(S, S, replication.Warming)
	src := newTopoSource(warming)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = s.PurgeUnowned(ctx, src, OwnershipConfig{Self: "a1", Window: time.Hour}) }()
	held := holdsOf(t, warming, "a1", keys)
	expectExactly(t, s, keys, held, "a3 warming")
	draining := zoneA(S, S, replication.Draining)
	pw, _ := replication.NewPlacement(warming, OwnershipConfig{}.Sharding)
	pd, _ := replication.NewPlacement(draining, OwnershipConfig{}.Sharding)
	want := map[string]bool{}
	for k := range held {
		// Kept: the keys a1 serves in both views. Dropped: those a3 took.
		if pw.Zone("a").IsReadOwner("a1", []byte(k)) && pd.Zone("a").IsReadOwner("a1", []byte(k)) {
			want[k] = true
		}
	}
	if len(want) == len(held) || len(want) == 0 {
		t.Fatalf("a3 takes %d of a1's %d keys; the test needs some", len(held)-len(want), len(held))
	}
	src.set(draining)
	expectExactly(t, s, keys, want, "a3 draining, its serving time unseen")
}

// A reshard's leaving node turns warming at the switch: clients read the
// new owners, and those whose view lags still read it. It took every
// write of its keys all along, so it keeps them until it leaves; purging
// them had the lagging readers miss (a one-second miss burst at the
// demo's shrink).
func TestPurgeUnownedLeavingNodeKeepsItsKeysAtTheSwitch(t *testing.T) {
	s, _ := startServer(t, Config{Logger: slog.New(slog.DiscardHandler)})
	var keys []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprint("key-", i))
		putKey(t, s, keys[i])
	}
	S := replication.Serving
	serving := zoneA(S, S, S)
	src := newTopoSource(serving)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = s.PurgeUnowned(ctx, src, OwnershipConfig{Self: "a3", Window: time.Hour}) }()
	held := holdsOf(t, serving, "a3", keys)
	if len(held) == 0 || len(held) == len(keys) {
		t.Fatalf("a3 owns %d of %d keys; the test needs some", len(held), len(keys))
	}
	expectExactly(t, s, keys, held, "a3 serving")
	afterPass(t, s, func() { src.set(zoneA(S, S, replication.Draining)) })
	expectExactly(t, s, keys, held, "a3 draining (the intermediate)")
	switched := zoneA(S, S, replication.Warming)
	if got := holdsOf(t, switched, "a3", keys); len(got) != len(held) {
		t.Fatalf("a3 takes the writes of %d keys at the switch, held %d", len(got), len(held))
	}
	afterPass(t, s, func() { src.set(switched) })
	expectExactly(t, s, keys, held, "a3 warming (the switch)")
}

// afterPass runs change and waits until the ownership purge has made a
// pass after it: a test that expects the store unchanged must not look
// before the purge did.
func afterPass(t *testing.T, s *Server, change func()) {
	t.Helper()
	before := s.own.passes.Load()
	change()
	testproc.Eventually(t, 20*time.Second, "a purge pass after the change", func() bool { return s.own.passes.Load() > before })
}
