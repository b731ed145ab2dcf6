package membership

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/zonecache/zonecache/replication"
)

// A member memberlist declares failed while this one still hears from it
// stays in the topology until it refutes (no change seen by clients, no
// notice due), or until its contact lapses or the hold runs out (then it
// is dropped as memberlist said); one that said goodbye, or one that fails
// long after its last contact, is dropped at once.
func TestFailedMemberStillInContactIsHeldUntilItRefutesOrFallsSilent(t *testing.T) {
	const b = time.Second
	m := &Member{cfg: Config{NodeName: "a-1", ForgetAfter: time.Hour}, log: slog.New(slog.DiscardHandler),
		peers: map[string]replication.Node{}, changed: make(chan struct{})}
	m.health = newHealth(m, b)
	h, ev := m.health, events{m}
	node := func(name string) *memberlist.Node {
		meta, err := nodeMeta{Zone: "a", Addr: "127.0.0.1:11211", State: replication.Serving, Weight: 1}.encode()
		if err != nil {
			t.Fatal(err)
		}
		return &memberlist.Node{Name: name, Addr: net.ParseIP("127.0.0.1"), Port: 7946, Meta: meta}
	}
	inTopology := func(name string) bool {
		for _, n := range m.Topology().Nodes {
			if n.ID == name {
				return true
			}
		}
		return false
	}
	for _, n := range []string{"a-2", "b-1", "c-1", "c-2"} {
		ev.NotifyJoin(node(n))
	}

	// Heard just now, declared failed, refutes: never left the topology.
	ev.NotifyLeave(node("a-2"))
	if !inTopology("a-2") || !h.heldNow("a-2") || h.known["a-2"].noticeDue {
		t.Fatalf("a-2 failed while in contact: in topology %v, held %v, notice due %v", inTopology("a-2"), h.heldNow("a-2"), h.known["a-2"].noticeDue)
	}
	ev.NotifyJoin(node("a-2"))
	if !inTopology("a-2") || h.heldNow("a-2") {
		t.Fatalf("a-2 refuted: in topology %v, held %v", inTopology("a-2"), h.heldNow("a-2"))
	}

	// Held, then silent for longer than holdContact: dropped, notice due.
	ev.NotifyLeave(node("b-1"))
	m.dropEndedHolds(h.known["b-1"].heard.Add(b / 4))
	if !inTopology("b-1") {
		t.Fatal("b-1 dropped while still in contact and within the hold")
	}
	m.dropEndedHolds(h.known["b-1"].heard.Add(b/2 + time.Millisecond))
	if inTopology("b-1") || h.heldNow("b-1") || !h.known["b-1"].noticeDue {
		t.Fatalf("b-1 silent past holdContact: in topology %v, held %v, notice due %v", inTopology("b-1"), h.heldNow("b-1"), h.known["b-1"].noticeDue)
	}

	// Held and still heard, but no refutation within holdMax: dropped.
	ev.NotifyLeave(node("c-1"))
	since := h.known["c-1"].heldSince
	h.known["c-1"].heard = since.Add(b)
	m.dropEndedHolds(since.Add(b + time.Millisecond))
	if inTopology("c-1") {
		t.Fatal("c-1 still held after holdMax")
	}

	// Goodbye first: dropped at once.
	h.heard([]byte(byePrefix + "c-2"))
	ev.NotifyLeave(node("c-2"))
	if inTopology("c-2") {
		t.Fatal("c-2 said goodbye and was held")
	}

	// Failed long after its last contact (a crash): dropped at once.
	ev.NotifyJoin(node("c-2"))
	h.known["c-2"].heard = time.Now().Add(-b)
	ev.NotifyLeave(node("c-2"))
	if inTopology("c-2") || h.heldNow("c-2") {
		t.Fatal("c-2, silent for longer than holdContact, was held")
	}
}
