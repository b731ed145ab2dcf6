package reshard

import (
	"context"
	"errors"
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
