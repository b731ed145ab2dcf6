package membership

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/zonecache/zonecache/replication"
)

// A notice that a member holds this one dead fences the cache at once,
// unless it is meant for another member or comes from across a partition
// this member was on the majority side of; the fence opens, invalidating,
// once no notice came for the bound.
func TestDroppedNoticeFencesUntilNoneForTheBound(t *testing.T) {
	const b = time.Second
	f := &fenceLog{}
	m := &Member{cfg: Config{NodeName: "a-3", ForgetAfter: time.Hour, Fence: f}, log: slog.New(slog.DiscardHandler)}
	h := newHealth(m, b)
	m.health = h
	for _, n := range []string{"a-1", "a-2", "b-1"} {
		h.known[n] = &peer{alive: true, heard: time.Now()}
	}

	h.heard([]byte(droppedPrefix + "a-1\na-9"))
	h.heard([]byte(droppedPrefix + "a-1"))
	if fenced, _ := f.state(); fenced || h.heldDead() {
		t.Fatal("a notice for another member, or with no target, fenced the cache")
	}
	h.heard([]byte(droppedPrefix + "a-1\na-3"))
	if fenced, n := f.state(); !fenced || n != 1 || !h.heldDead() {
		t.Fatalf("a notice for a-3: fenced %v after %d changes, held dead %v", fenced, n, h.heldDead())
	}
	h.heard([]byte(droppedPrefix + "a-2\na-3"))
	if _, n := f.state(); n != 1 {
		t.Errorf("a second notice told the fence again: %d changes", n)
	}
	h.fence(h.droppedAt.Add(b / 2))
	if fenced, _ := f.state(); !fenced {
		t.Error("the fence opened within the bound of the last notice")
	}
	h.fence(h.droppedAt.Add(2 * b))
	if fenced, n := f.state(); fenced || n != 2 || h.heldDead() {
		t.Errorf("no notice for twice the bound: fenced %v after %d changes", fenced, n)
	}

	// b-1 cut off from a-3 while a-3 heard most of the fleet: the
	// minority's verdict, no fence.
	now := time.Now()
	h.known["b-1"].heard = now.Add(-3 * b)
	h.known["a-1"].heard, h.known["a-2"].heard = now, now
	h.check(now)
	h.heard([]byte(droppedPrefix + "b-1\na-3"))
	if fenced, _ := f.state(); fenced {
		t.Error("a notice from a member cut off from a-3, in the majority, fenced the cache")
	}
}

// A member that fails is due a dropped notice at once (the contact loop is
// kicked), and still is when it comes back before the notice went out: a
// death refuted within milliseconds was still seen by clients.
func TestFailedMemberIsDueANoticeAtOnce(t *testing.T) {
	m := &Member{cfg: Config{NodeName: "a-1", ForgetAfter: time.Hour}, log: slog.New(slog.DiscardHandler)}
	h := newHealth(m, time.Second)
	n := &memberlist.Node{Name: "a-3", Addr: net.ParseIP("127.0.0.1"), Port: 7946}
	h.alive(n)
	h.gone("a-3", replication.Serving)
	select {
	case <-h.kick:
	default:
		t.Error("a failure did not kick the contact loop")
	}
	h.alive(n)
	if p := h.known["a-3"]; !p.noticeDue {
		t.Error("a member back before its notice went out is no longer due one")
	}
	h.gone("a-3", replication.Draining)
	if _, known := h.known["a-3"]; known {
		t.Error("a member that left draining is still known")
	}
}

// A member that fails while this one is cut off from most of the fleet is
// held failed by the minority: clients kept it, so it is told nothing.
func TestMinorityVerdictSendsNoNotice(t *testing.T) {
	m := &Member{cfg: Config{NodeName: "c-1", ForgetAfter: time.Hour}, log: slog.New(slog.DiscardHandler)}
	h := newHealth(m, time.Second)
	n := &memberlist.Node{Name: "a-1", Addr: net.ParseIP("127.0.0.1"), Port: 7946}
	h.alive(n)
	h.isol = true
	h.gone("a-1", replication.Serving)
	select {
	case <-h.kick:
		t.Error("a failure seen while cut off kicked the contact loop")
	default:
	}
	if p := h.known["a-1"]; p.noticeDue || !p.minorityVerdict {
		t.Errorf("a failure seen while cut off: notice due %v, minority verdict %v", p.noticeDue, p.minorityVerdict)
	}
}
