package consistency

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
)

// nodeRead records a read of key by a reader of zone answered by node.
func nodeRead(h *History, key, zone, node, nodeZone string, start, end int, v uint64) {
	h.AddRead(Read{Key: key, Zone: zone, Start: at(start), End: at(end), Found: true, Version: v, Node: node, NodeZone: nodeZone})
}

func event(h *History, key, node, op string, v uint64, ms int, ok bool) {
	h.AddNodeEvent(NodeEvent{Key: key, Node: node, Op: op, Version: v, At: at(ms), OK: ok, Who: "writer"})
}

// TestCheckTellsTheCausesOfStaleReadsApart plants one stale read of each
// cause and checks that each is counted under its own, with the fallback
// and delete flags.
func TestCheckTellsTheCausesOfStaleReadsApart(t *testing.T) {
	h := NewHistory()
	h.MarkPhase("warm-up", at(0))
	// k1: v2 deleted everywhere, then reader b's read repair put v1 back
	// on b-1 (it read v1 from zone a before a-1 applied the delete).
	write(h, "k1", 1, OpSet, 0, 10)
	write(h, "k1", 2, OpDelete, 20, 30)
	event(h, "k1", "b-1", "delete", 2, 25, true)
	h.AddNodeEvent(NodeEvent{Key: "k1", Node: "b-1", Op: "read_repair", At: at(35), OK: true, Who: "reader b"})
	nodeRead(h, "k1", "b", "b-1", "b", 50, 51, 1)
	// k2: a-1 answered v2 before the read, then served v1.
	write(h, "k2", 1, OpSet, 0, 10)
	write(h, "k2", 2, OpSet, 20, 30)
	event(h, "k2", "a-1", "set", 2, 25, true)
	nodeRead(h, "k2", "a", "a-1", "a", 50, 51, 1)
	// k3: v2 to c-1 failed; reader a fell back to c-1.
	write(h, "k3", 1, OpSet, 0, 10)
	write(h, "k3", 2, OpSet, 20, 30)
	event(h, "k3", "c-1", "set", 2, 40, false)
	nodeRead(h, "k3", "a", "c-1", "c", 50, 51, 1)
	// k4: v2 to c-1 answered only after the read began.
	write(h, "k4", 1, OpSet, 0, 10)
	write(h, "k4", 2, OpSet, 20, 30)
	event(h, "k4", "c-1", "set", 2, 60, true)
	h.Complete("k4", 2, at(60))
	nodeRead(h, "k4", "c", "c-1", "c", 50, 51, 1)
	// k5: the writer never sent v2 to a-3 (v3, issued after the read
	// began, does not count).
	write(h, "k5", 1, OpSet, 0, 10)
	write(h, "k5", 2, OpSet, 20, 30)
	write(h, "k5", 3, OpSet, 52, 60)
	event(h, "k5", "a-3", "set", 3, 55, true)
	nodeRead(h, "k5", "a", "a-3", "a", 50, 51, 1)
	// k6: v2 to c-2 failed, the writer's repair ran after the read.
	write(h, "k6", 1, OpSet, 0, 10)
	write(h, "k6", 2, OpSet, 20, 30)
	event(h, "k6", "c-2", "set", 2, 40, false)
	event(h, "k6", "c-2", "repair", 0, 70, true)
	nodeRead(h, "k6", "c", "c-2", "c", 50, 51, 1)
	// k7: reader a's read repair and the delete raced at a-2 (answered
	// 2 ms apart), and a-2 served v1 after.
	write(h, "k7", 1, OpSet, 0, 10)
	write(h, "k7", 2, OpDelete, 20, 30)
	h.AddNodeEvent(NodeEvent{Key: "k7", Node: "a-2", Op: "read_repair", At: at(24), OK: true, Who: "reader a"})
	event(h, "k7", "a-2", "delete", 2, 26, true)
	nodeRead(h, "k7", "a", "a-2", "a", 50, 51, 1)
	res := Check(h, CheckConfig{})
	want := map[string]int{
		"warm-up: " + CauseReadRepair:               2,
		"warm-up: " + CauseAppliedNewer:             1,
		"warm-up: " + CauseNodeFailed:               1,
		"warm-up: (in flight) " + CauseNodeInFlight: 1,
		"warm-up: " + CauseNodeFailedRepaired:       1,
		"warm-up: " + CauseNoAnswer:                 1,
	}
	if res.Stale != 7 || len(res.Causes) != len(want) {
		t.Fatalf("stale = %d, causes %v; want 7, %v", res.Stale, res.Causes, want)
	}
	for k, n := range want {
		if res.Causes[k] != n {
			t.Errorf("cause %q = %d, want %d (all: %v)", k, res.Causes[k], n, res.Causes)
		}
	}
	if res.Fallback != 1 || res.Deleted != 2 {
		t.Errorf("fallback %d, deleted %d; want 1, 2", res.Fallback, res.Deleted)
	}
	if len(res.StaleSamples) != 6 || !strings.Contains(strings.Join(res.StaleSamples, "\n"), "reader b's read repair stored it at b-1 15ms after v2 was issued") {
		t.Errorf("samples:\n%s", strings.Join(res.StaleSamples, "\n"))
	}
}

// TestFormerOwnerDeletesAreNodeEvents: the writer's hook records a write's
// delete at a former owner of its key as a node event of the write's
// version, without counting it among the write's replicas (Done comes
// from the replicas' answers alone), and a stale read served by that node
// after the delete applied is told as such.
func TestFormerOwnerDeletesAreNodeEvents(t *testing.T) {
	h := NewHistory()
	hook := InflightHook(h, nil)
	var done time.Time
	ctx, track := withInflight(context.Background(), Write{Key: "k", Version: 2, Op: OpSet}, func(at time.Time) { done = at })
	hook(ctx, client.AttemptEvent{Op: "set", Node: "a-1"})
	hook(ctx, client.AttemptEvent{Op: "former_delete", Node: "a-9"})
	track.returned(2)
	if !done.IsZero() {
		t.Fatal("the write counted done after one of its two replicas: the former owner's delete was counted as a replica")
	}
	hook(ctx, client.AttemptEvent{Op: "set", Node: "b-1"})
	if done.IsZero() {
		t.Fatal("the write not done after both replicas answered")
	}
	var former []NodeEvent
	for _, e := range h.nodeEvents {
		if e.Op == "former_delete" {
			former = append(former, e)
		}
	}
	if len(former) != 1 || former[0].Node != "a-9" || former[0].Version != 2 || former[0].Key != "k" || !former[0].OK {
		t.Fatalf("former-owner delete events %+v, want one of k v2 at a-9, applied", former)
	}

	h = NewHistory()
	h.MarkPhase("reshard", at(0))
	write(h, "k", 1, OpSet, 0, 10)
	write(h, "k", 2, OpSet, 20, 30)
	event(h, "k", "a-1", "set", 2, 25, true)
	event(h, "k", "a-9", "former_delete", 2, 26, true)
	nodeRead(h, "k", "a", "a-9", "a", 50, 51, 1)
	res := Check(h, CheckConfig{})
	if res.Causes["reshard: "+CauseAppliedNewer] != 1 || !strings.Contains(strings.Join(res.StaleSamples, "\n"), "a-9 answered former_delete v2") {
		t.Fatalf("causes %v, samples:\n%s\nwant the read told as served after a-9 applied the former-owner delete of v2", res.Causes, strings.Join(res.StaleSamples, "\n"))
	}
}
