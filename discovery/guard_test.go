package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// view builds a topology from "id/zone[/state]" entries.
func view(epoch uint64, nodes ...string) replication.Topology {
	t := replication.Topology{Epoch: epoch}
	for i, s := range nodes {
		p := strings.Split(s, "/")
		n := replication.Node{ID: p[0], Zone: p[1], Addr: fmt.Sprintf("127.0.0.1:%d", 1+i)}
		if len(p) > 2 {
			n.State = replication.NodeState(p[2])
		}
		t.Nodes = append(t.Nodes, n)
	}
	return t
}

var fullFleet = []string{"a1/a", "a2/a", "b1/b", "b2/b", "c1/c", "c2/c"}

func TestShrinkNeedsConfirmation(t *testing.T) {
	full := view(1, fullFleet...)
	for _, tc := range []struct {
		name string
		next replication.Topology
		want bool
	}{
		{"one node dies", view(2, "a1/a", "b1/b", "b2/b", "c1/c", "c2/c"), false},
		{"one node joins", view(2, append(fullFleet, "a3/a/warming")...), false},
		{"one node drains", view(2, "a1/a", "a2/a/draining", "b1/b", "b2/b", "c1/c", "c2/c"), false},
		{"half the readers go, no zone emptied", view(2, "a1/a", "b1/b", "c1/c"), false},
		{"a zone loses its last reader", view(2, "a1/a", "a2/a", "b1/b", "b2/b"), true},
		{"a zone's nodes fall back to warming", view(2, "a1/a/warming", "a2/a/warming", "b1/b", "b2/b", "c1/c", "c2/c"), true},
		{"a seed restarted standalone", view(1<<40, "a1/a/warming"), true},
		{"a seed cut off with one peer", view(2, "a1/a", "b1/b"), true},
	} {
		if got := shrinkOf(full, tc.next).needsConfirmation(); got != tc.want {
			t.Errorf("%s: needsConfirmation %v, want %v (%+v)", tc.name, got, tc.want, shrinkOf(full, tc.next))
		}
	}
	// From nothing (the zero initial topology) every view applies.
	if shrinkOf(replication.Topology{}, view(1, "a1/a/warming")).needsConfirmation() {
		t.Error("a first view needs confirmation")
	}
	// Losing more than half of the readers needs confirmation even when
	// every zone keeps one.
	big := view(1, "a1/a", "a2/a", "a3/a", "b1/b", "b2/b", "b3/b")
	if !shrinkOf(big, view(2, "a1/a", "b1/b")).needsConfirmation() {
		t.Error("4 of 6 readers lost without confirmation")
	}
}

// seeds are httptest servers answering /topology with the view set for
// each (they do not long-poll, so Watch polls them every RetryMin); they
// count the plain fetches (no after/wait) that Watch makes to confirm a
// shrink.
type seeds struct {
	mu      sync.Mutex
	views   []replication.Topology
	plain   map[uint64]int // plain fetches (no after/wait) by the epoch served
	watched int            // the seed that answered the last watch request
	srv     []*httptest.Server
}

func newSeeds(t *testing.T, n int, v replication.Topology) *seeds {
	s := &seeds{views: make([]replication.Topology, n), plain: make(map[uint64]int)}
	for i := range n {
		s.views[i] = v
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			v := s.views[i]
			if r.URL.RawQuery == "" {
				s.plain[v.Epoch]++
			} else {
				s.watched = i
			}
			s.mu.Unlock()
			_ = json.NewEncoder(w).Encode(v)
		}))
		t.Cleanup(srv.Close)
		s.srv = append(s.srv, srv)
	}
	return s
}

// set gives seed i view v; with i < 0, every seed.
func (s *seeds) set(i int, v replication.Topology) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for j := range s.views {
		if i < 0 || i == j {
			s.views[j] = v
		}
	}
}

// following is the seed the watch follows: the last one it sent a watch
// request to.
func (s *seeds) following() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watched
}

// plainFetchesOf counts the plain fetches that were answered with the view
// of epoch e.
func (s *seeds) plainFetchesOf(e uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plain[e]
}

func (s *seeds) urls() []string {
	var u []string
	for _, srv := range s.srv {
		u = append(u, srv.URL)
	}
	return u
}

// heldTotal reads zonecache_discovery_held_topologies_total from reg.
func heldTotal(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	return testproc.CounterSum(t, reg, "zonecache_discovery_held_topologies_total", nil)
}

// watchSeeds runs Watch on the seeds from the zero topology until the test
// ends, recording what it applies and counting its metric in reg.
func watchSeeds(t *testing.T, urls []string, reg prometheus.Registerer) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Config{Seeds: urls, Wait: time.Second, RetryMin: 10 * time.Millisecond,
			RetryMax: 50 * time.Millisecond, RequestTimeout: 5 * time.Second, Registerer: reg, Logger: quiet()},
			replication.Topology{}, rec.apply)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch returned %v", err)
		}
	})
	return rec
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// A seed that comes back as a fresh standalone node serves a view of itself
// alone, warming, under an epoch far ahead of the fleet's: the watch holds
// it back while the other seeds still list the fleet. A zone lost for real
// (every seed agrees) applies once another seed confirms it, and a one-node
// change applies at once, without asking another seed.
func TestWatchHoldsAShrinkOnlyOneSeedServes(t *testing.T) {
	full := view(10, fullFleet...)
	s := newSeeds(t, 3, full)
	reg := prometheus.NewPedanticRegistry()
	rec := watchSeeds(t, s.urls(), reg)
	testproc.Eventually(t, 10*time.Second, "the fleet applied", func() bool { return rec.names() == "a1,a2,b1,b2,c1,c2" })

	for range 3 {
		i := s.following()
		before := heldTotal(t, reg)
		s.set(i, view(1<<40, "a1/a/warming"))
		testproc.Eventually(t, 10*time.Second, fmt.Sprintf("seed %d's standalone view held back", i), func() bool {
			return heldTotal(t, reg) > before
		})
		// The watch leaves the seed for one that disagreed with it.
		testproc.Eventually(t, 10*time.Second, fmt.Sprintf("the watch moved away from seed %d", i), func() bool {
			return s.following() != i
		})
		if got, n := rec.names(), rec.count(); got != "a1,a2,b1,b2,c1,c2" || n != 1 {
			t.Fatalf("seed %d alone shrank the view: applied %s (%d applies)", i, got, n)
		}
		s.set(i, full)
	}

	// One seed alone says zone c is gone (a third of the readers): the
	// others still list it, so the view is held.
	i := s.following()
	before := heldTotal(t, reg)
	s.set(i, view(11, "a1/a", "a2/a", "b1/b", "b2/b"))
	testproc.Eventually(t, 10*time.Second, "a zone loss only one seed sees held back", func() bool {
		return heldTotal(t, reg) > before
	})
	if got := rec.names(); got != "a1,a2,b1,b2,c1,c2" {
		t.Fatalf("a zone loss that other seeds dispute applied: %s", got)
	}

	// Zone c is lost for real: every seed agrees, and the view applies.
	s.set(-1, view(11, "a1/a", "a2/a", "b1/b", "b2/b"))
	testproc.Eventually(t, 10*time.Second, "the confirmed loss of zone c applied", func() bool { return rec.names() == "a1,a2,b1,b2" })

	// One node dies: applied without a confirming fetch (a late one from
	// the step before would have served epoch 11).
	s.set(-1, view(12, "a1/a", "b1/b", "b2/b"))
	testproc.Eventually(t, 10*time.Second, "the loss of a2 applied", func() bool { return rec.names() == "a1,b1,b2" })
	if n := s.plainFetchesOf(12); n != 0 {
		t.Fatalf("%d confirming fetches for a one-node change", n)
	}
}

// With a single seed nothing can confirm a large shrink: it is held for as
// long as the watch runs, while a change that keeps most readers and every
// zone applies.
func TestWatchWithOneSeedHoldsALargeShrink(t *testing.T) {
	s := newSeeds(t, 1, view(10, fullFleet...))
	reg := prometheus.NewPedanticRegistry()
	rec := watchSeeds(t, s.urls(), reg)
	testproc.Eventually(t, 10*time.Second, "the fleet applied", func() bool { return rec.names() == "a1,a2,b1,b2,c1,c2" })

	s.set(0, view(11, "a1/a"))
	testproc.Eventually(t, 10*time.Second, "the shrink held back three times", func() bool { return heldTotal(t, reg) >= 3 })
	if got := rec.names(); got != "a1,a2,b1,b2,c1,c2" {
		t.Fatalf("a lone seed's shrink applied: %s", got)
	}

	s.set(0, view(12, "a1/a", "b1/b", "b2/b", "c1/c", "c2/c"))
	testproc.Eventually(t, 10*time.Second, "a one-node change applied", func() bool { return rec.names() == "a1,b1,b2,c1,c2" })

	// The zone's last node dies (one reader of five): with no other seed
	// to dispute it, it applies rather than waiting for a confirmation
	// that cannot come.
	s.set(0, view(13, "b1/b", "b2/b", "c1/c", "c2/c"))
	testproc.Eventually(t, 10*time.Second, "the loss of zone a's last node applied", func() bool { return rec.names() == "b1,b2,c1,c2" })
}

// The other seeds' answers are what confirms: a seed that is down confirms
// nothing, and the shrink applies once a live seed agrees.
func TestWatchConfirmsAShrinkThroughALiveSeedWhenOneIsDown(t *testing.T) {
	full := view(10, fullFleet...)
	s := newSeeds(t, 2, full)
	dead := deadAddr(t)
	reg := prometheus.NewPedanticRegistry()
	rec := watchSeeds(t, append(s.urls(), dead), reg)
	testproc.Eventually(t, 10*time.Second, "the fleet applied", func() bool { return rec.names() == "a1,a2,b1,b2,c1,c2" })

	shrunk := view(11, "b1/b", "b2/b", "c1/c", "c2/c")
	s.set(-1, shrunk)
	testproc.Eventually(t, 10*time.Second, "the loss of zone a applied", func() bool { return rec.names() == "b1,b2,c1,c2" })
	if n := heldTotal(t, reg); n != 0 {
		t.Fatalf("%v views held although a live seed agreed", n)
	}
}
