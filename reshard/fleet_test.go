package reshard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// TestLeavingNodesAreStoppedAtOnce: the nodes a cutover removes are
// stopped together, each Stop waiting for the others to have begun (one
// after the other, the first would wait for ever: the zone's removal took
// as many drains as it had nodes), the kept nodes are not stopped, each
// stop is said, and a failed stop is reported by node.
func TestLeavingNodesAreStoppedAtOnce(t *testing.T) {
	cur := replication.Topology{Nodes: []replication.Node{
		{ID: "a-1", Zone: "a"}, {ID: "d-1", Zone: "d"}, {ID: "d-2", Zone: "d"}, {ID: "d-3", Zone: "d"}}}
	target := replication.Topology{Nodes: cur.Nodes[:1]}
	leaving := len(cur.Nodes) - len(target.Nodes)
	var (
		mu       sync.Mutex
		stopped  []string
		said     []string
		all      sync.WaitGroup
		together = make(chan struct{})
	)
	all.Add(leaving)
	go func() { all.Wait(); close(together) }()
	g := &GossipFleet{Stop: func(ctx context.Context, n replication.Node) error {
		all.Done()
		select {
		case <-together:
		case <-time.After(10 * time.Second):
			return errors.New("the other stops did not begin: stopped one after the other")
		}
		mu.Lock()
		stopped = append(stopped, n.ID)
		mu.Unlock()
		if n.ID == "d-3" {
			return errors.New("refused")
		}
		return nil
	}}
	err := g.stopLeaving(context.Background(), cur, target, func(s string) { said = append(said, s) })
	if err == nil || !strings.Contains(err.Error(), "stop d-3: refused") || strings.Contains(err.Error(), "did not begin") {
		t.Fatalf("err %v, want only d-3's refusal", err)
	}
	slices.Sort(stopped)
	if !slices.Equal(stopped, []string{"d-1", "d-2", "d-3"}) {
		t.Fatalf("stopped %v, want d-1, d-2 and d-3", stopped)
	}
	if len(said) != 2 {
		t.Fatalf("said %q, want the two stops that succeeded", said)
	}
}

// TestNodesOfAStepChangeAtOnce: the nodes whose state a step changes are
// changed together, each admin endpoint holding its request until the
// others have arrived (one after the other, the first would wait for
// ever: zone d's cutover promoted d-1 alone, then d-2); weights come
// before the state on each node; and a step with a node that has no admin
// address is refused before any node changes.
func TestNodesOfAStepChangeAtOnce(t *testing.T) {
	cur := replication.Topology{Nodes: []replication.Node{
		{ID: "a-1", Zone: "a"},
		{ID: "d-1", Zone: "d", State: replication.Warming},
		{ID: "d-2", Zone: "d", State: replication.Warming},
		{ID: "d-3", Zone: "d", State: replication.Warming, Weight: 1}}}
	target := replication.Topology{Nodes: []replication.Node{
		{ID: "a-1", Zone: "a"}, {ID: "d-1", Zone: "d"}, {ID: "d-2", Zone: "d"}, {ID: "d-3", Zone: "d", Weight: 2}}}
	var (
		mu       sync.Mutex
		calls    []string
		arrived  sync.WaitGroup
		together = make(chan struct{})
	)
	arrived.Add(3) // the first request of each of d-1, d-2, d-3
	go func() { arrived.Wait(); close(together) }()
	admins := map[string]string{}
	for _, id := range []string{"a-1", "d-1", "d-2", "d-3"} {
		first := true
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls = append(calls, id+" "+r.URL.Path+"?"+r.URL.RawQuery)
			wasFirst := first
			first = false
			mu.Unlock()
			if wasFirst {
				arrived.Done()
				select {
				case <-together:
				case <-time.After(10 * time.Second):
					http.Error(w, "the other nodes were not changed meanwhile: one after the other", http.StatusConflict)
					return
				}
			}
			fmt.Fprintln(w, r.URL.Query().Get("to"))
		}))
		t.Cleanup(srv.Close)
		admins[id] = srv.URL
	}
	g := &GossipFleet{Admin: admins}
	var said []string
	if err := g.setStates(context.Background(), cur, target, func(s string) { said = append(said, s) }); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(calls)
	mu.Unlock()
	d3 := slices.DeleteFunc(slices.Clone(got), func(c string) bool { return !strings.HasPrefix(c, "d-3 ") })
	slices.Sort(got)
	want := []string{"d-1 /state?to=serving", "d-2 /state?to=serving", "d-3 /state?to=serving", "d-3 /weight?next=0&weight=2"}
	if !slices.Equal(got, want) {
		t.Fatalf("admin calls %q, want %q (a-1 unchanged)", got, want)
	}
	if !slices.Equal(d3, []string{"d-3 /weight?next=0&weight=2", "d-3 /state?to=serving"}) {
		t.Fatalf("d-3's calls %q, want its weight before its state", d3)
	}
	if len(said) != 4 {
		t.Fatalf("said %q, want each of the 4 changes", said)
	}

	// A node with no admin address: nothing changes.
	mu.Lock()
	calls = nil
	mu.Unlock()
	delete(g.Admin, "d-2")
	err := g.setStates(context.Background(), cur, target, func(string) {})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "d-2") {
		t.Fatalf("err %v, want d-2's missing admin address (ErrConfig)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 0 {
		t.Fatalf("admin calls %q before the refusal, want none", calls)
	}
}
