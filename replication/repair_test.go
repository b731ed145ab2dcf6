package replication

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestRepairQueueBackoffAndDeadline(t *testing.T) {
	q := NewRepairQueue(RepairConfig{MinBackoff: time.Second, MaxBackoff: 4 * time.Second})
	if !q.Add(Repair{NodeID: "a1", Key: "k", Deadline: t0.Add(10 * time.Second)}, t0) {
		t.Fatal("Add refused a live repair")
	}
	got := q.Due(t0, 10)
	if len(got) != 1 || got[0].Key != "k" {
		t.Fatalf("Due = %+v", got)
	}
	// Fail it three times: backoffs 1 s, 2 s, 4 s.
	now := t0
	for attempt, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		q.Retry(got[0], now)
		if d := q.Due(now.Add(wait-time.Millisecond), 10); len(d) != 0 {
			t.Fatalf("attempt %d: due before its backoff of %v", attempt+1, wait)
		}
		now = now.Add(wait)
		got = q.Due(now, 10)
		if len(got) != 1 {
			t.Fatalf("attempt %d: not due after %v", attempt+1, wait)
		}
	}
	// The key expires at t0+10s; now is t0+7s. Retry at 7 s, due at 11 s: expired.
	q.Retry(got[0], now)
	if d := q.Due(t0.Add(20*time.Second), 10); len(d) != 0 {
		t.Fatalf("expired repair handed out: %+v", d)
	}
	if s := q.Stats(); s.Expired != 1 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
	if q.Add(Repair{NodeID: "a1", Key: "old", Deadline: t0}, t0) {
		t.Fatal("Add accepted a repair whose key already expired")
	}
}

func TestRepairQueueBoundedDropsNearestDeadline(t *testing.T) {
	q := NewRepairQueue(RepairConfig{Capacity: 3})
	q.Add(Repair{NodeID: "n", Key: "forever"}, t0)
	q.Add(Repair{NodeID: "n", Key: "soon", Deadline: t0.Add(time.Minute)}, t0)
	q.Add(Repair{NodeID: "n", Key: "later", Deadline: t0.Add(time.Hour)}, t0)
	q.Add(Repair{NodeID: "n", Key: "new", Deadline: t0.Add(2 * time.Hour)}, t0)
	s := q.Stats()
	if s.Pending != 3 || s.Dropped != 1 {
		t.Fatalf("stats %+v", s)
	}
	keys := map[string]bool{}
	for _, r := range q.Due(t0, 10) {
		keys[r.Key] = true
	}
	if keys["soon"] || !keys["forever"] || !keys["later"] || !keys["new"] {
		t.Fatalf("kept %v; the repair with the nearest deadline should have been dropped", keys)
	}
}

// A full queue drops a repair of a node that has left the topology before
// any repair of a known node, even one with a nearer deadline.
func TestRepairQueueFullDropsAbsentNodeFirst(t *testing.T) {
	q := NewRepairQueue(RepairConfig{Capacity: 2})
	q.Add(Repair{NodeID: "gone", Key: "forever"}, t0)
	q.Add(Repair{NodeID: "n", Key: "soon", Deadline: t0.Add(time.Minute)}, t0)
	var gone Repair
	for _, r := range q.Due(t0, 10) {
		if r.NodeID == "gone" {
			gone = r
		} else {
			q.Retry(r, t0)
		}
	}
	gone.Absent = t0
	q.Retry(gone, t0)
	q.Add(Repair{NodeID: "n", Key: "new", Deadline: t0.Add(time.Hour)}, t0)
	if s := q.Stats(); s.Pending != 2 || s.Dropped != 1 {
		t.Fatalf("stats %+v", s)
	}
	keys := map[string]bool{}
	for _, r := range q.Due(t0.Add(time.Second), 10) {
		keys[r.Key] = true
	}
	if keys["forever"] || !keys["soon"] || !keys["new"] {
		t.Fatalf("kept %v; the absent node's repair should have been dropped", keys)
	}
}

func TestRepairQueueOnePerNodeAndKey(t *testing.T) {
	q := NewRepairQueue(RepairConfig{})
	q.Add(Repair{NodeID: "a", Key: "k", Kind: RepairInvalidate}, t0)
	q.Add(Repair{NodeID: "a", Key: "k", Kind: RepairDelete}, t0)
	q.Add(Repair{NodeID: "b", Key: "k"}, t0)
	got := q.Due(t0, 10)
	if len(got) != 2 {
		t.Fatalf("want one repair per (node, key), got %+v", got)
	}
	for _, r := range got {
		if r.NodeID == "a" && r.Kind != RepairDelete {
			t.Fatalf("the newer repair must win: %+v", r)
		}
	}
	// A retry of an old attempt must not override a newer repair.
	q.Add(Repair{NodeID: "a", Key: "k", Kind: RepairInvalidate}, t0)
	q.Retry(Repair{NodeID: "a", Key: "k", Kind: RepairDelete}, t0)
	got = q.Due(t0.Add(time.Hour), 10)
	if len(got) != 1 || got[0].Kind != RepairInvalidate || got[0].Attempts != 0 {
		t.Fatalf("after retry of a superseded repair: %+v", got)
	}
}

func TestRepairQueueConcurrent(t *testing.T) {
	q := NewRepairQueue(RepairConfig{Capacity: 500})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				q.Add(Repair{NodeID: fmt.Sprint(w), Key: fmt.Sprint(i)}, t0)
				for _, r := range q.Due(t0, 3) {
					q.Retry(r, t0)
				}
			}
		}(w)
	}
	wg.Wait()
	if s := q.Stats(); s.Pending > 500 || s.Pending+int(s.Dropped) < 500 {
		t.Fatalf("stats %+v: pending must stay within capacity and nothing may vanish uncounted", s)
	}
}

// BenchmarkRepairQueueAddWhenFull is the cost of queueing a repair while a
// zone is down and the queue stays full: each Add drops one repair.
func BenchmarkRepairQueueAddWhenFull(b *testing.B) {
	q := NewRepairQueue(RepairConfig{Capacity: 10000})
	for i := 0; i < 10000; i++ {
		q.Add(Repair{NodeID: "n", Key: fmt.Sprint("k", i), Deadline: t0.Add(time.Duration(i+1) * time.Second)}, t0)
	}
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = fmt.Sprint("new", i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q.Add(Repair{NodeID: "n", Key: keys[i], Deadline: t0.Add(time.Hour)}, t0)
	}
	b.StopTimer()
	if s := q.Stats(); s.Pending != 10000 || s.Dropped != uint64(b.N) {
		b.Fatalf("stats %+v after %d adds to a full queue", s, b.N)
	}
}

// A repair parked with RetryAt waits until its time, unless Expedite makes
// the repairs of its node due at once; repairs of other nodes keep their
// time.
func TestRepairQueueRetryAtAndExpedite(t *testing.T) {
	q := NewRepairQueue(RepairConfig{})
	for _, node := range []string{"a1", "a1", "b1"} {
		q.Add(Repair{NodeID: node, Key: fmt.Sprintf("k%d", q.Stats().Pending)}, t0)
	}
	parked := t0.Add(10 * time.Minute)
	for _, r := range q.Due(t0, 10) {
		q.RetryAt(r, t0, parked)
	}
	if d := q.Due(parked.Add(-time.Millisecond), 10); len(d) != 0 {
		t.Fatalf("parked repairs due early: %+v", d)
	}
	now := t0.Add(time.Minute)
	if n := q.Expedite("a1", now); n != 2 {
		t.Fatalf("Expedite(a1) moved %d repairs, want 2", n)
	}
	got := q.Due(now, 10)
	if len(got) != 2 || got[0].NodeID != "a1" || got[1].NodeID != "a1" {
		t.Fatalf("due after Expedite(a1): %+v, want a1's two repairs", got)
	}
	if d := q.Due(parked.Add(-time.Millisecond), 10); len(d) != 0 {
		t.Fatalf("b1's repair due early: %+v", d)
	}
	if d := q.Due(parked, 10); len(d) != 1 || d[0].NodeID != "b1" {
		t.Fatalf("due at the parked time: %+v, want b1's repair", d)
	}
	// A parked repair whose key expires first is dropped at its expiry,
	// not handed out, and not left pending until the parked time.
	q.RetryAt(Repair{NodeID: "a1", Key: "short", Deadline: now.Add(time.Second)}, now, parked)
	if d := q.Due(now.Add(time.Second), 10); len(d) != 0 || q.Stats().Expired != 1 || q.Stats().Pending != 0 {
		t.Fatalf("expired parked repair: due %+v, stats %+v", d, q.Stats())
	}
}

// Has and the per-node counter cover a repair from Add until Finish,
// including while it is out of the queue being tried.
func TestRepairQueueHasCoversRunningRepairs(t *testing.T) {
	q := NewRepairQueue(RepairConfig{MinBackoff: time.Second})
	cnt := q.NodeCounter("n1")
	q.Add(Repair{NodeID: "n1", Key: "k"}, t0)
	if !q.Has("n1", "k") || q.Has("n1", "other") || q.Has("n2", "k") || cnt.Load() != 1 {
		t.Fatalf("after Add: has=%v count=%d", q.Has("n1", "k"), cnt.Load())
	}
	got := q.Due(t0, 10)
	if len(got) != 1 || !q.Has("n1", "k") || cnt.Load() != 1 {
		t.Fatalf("while running: due=%d has=%v count=%d", len(got), q.Has("n1", "k"), cnt.Load())
	}
	if s := q.Stats(); s.Pending != 0 || s.Running != 1 {
		t.Fatalf("stats while running %+v", s)
	}
	q.Retry(got[0], t0)
	if !q.Has("n1", "k") || cnt.Load() != 1 {
		t.Fatalf("after Retry: has=%v count=%d", q.Has("n1", "k"), cnt.Load())
	}
	got = q.Due(t0.Add(2*time.Second), 10)
	// A newer repair of the same key arrives while the old one runs.
	q.Add(Repair{NodeID: "n1", Key: "k"}, t0.Add(2*time.Second))
	if cnt.Load() != 2 {
		t.Fatalf("count with one running and one queued = %d", cnt.Load())
	}
	q.Finish(got[0])
	if !q.Has("n1", "k") || cnt.Load() != 1 {
		t.Fatalf("the newer repair must keep the key gated: has=%v count=%d", q.Has("n1", "k"), cnt.Load())
	}
	got = q.Due(t0.Add(2*time.Second), 10)
	q.Finish(got[0])
	q.Finish(got[0]) // a second Finish is harmless
	if q.Has("n1", "k") || cnt.Load() != 0 || q.NodeCounter("n1") != cnt {
		t.Fatalf("after Finish: has=%v count=%d", q.Has("n1", "k"), cnt.Load())
	}
}

// A repair dropped because the queue is full is reported to OnDrop, and
// ExpediteAll makes every repair due.
func TestRepairQueueOnDropAndExpediteAll(t *testing.T) {
	var dropped []string
	q := NewRepairQueue(RepairConfig{Capacity: 2, MinBackoff: time.Hour, OnDrop: func(r Repair) { dropped = append(dropped, r.Key) }})
	q.Add(Repair{NodeID: "n", Key: "soon", Deadline: t0.Add(time.Minute)}, t0)
	q.Add(Repair{NodeID: "m", Key: "later", Deadline: t0.Add(time.Hour)}, t0)
	q.Add(Repair{NodeID: "n", Key: "new"}, t0)
	if len(dropped) != 1 || dropped[0] != "soon" {
		t.Fatalf("OnDrop saw %v", dropped)
	}
	for _, r := range q.Due(t0, 10) {
		q.Retry(r, t0)
	}
	if d := q.Due(t0.Add(time.Second), 10); len(d) != 0 {
		t.Fatalf("due before the backoff: %v", d)
	}
	if n := q.ExpediteAll(t0.Add(time.Second)); n != 2 {
		t.Fatalf("ExpediteAll moved %d", n)
	}
	if d := q.Due(t0.Add(time.Second), 10); len(d) != 2 {
		t.Fatalf("due after ExpediteAll: %v", d)
	}
}

// TestRepairQueueNodeCounterNeverDipsToZero moves one repair of a node
// through every transition (queued, handed out, retried, replaced) while
// another goroutine reads the node's counter without the queue's lock, as
// the smart client's read gate does: the counter must never read 0 while
// the repair exists, or a read would take the replica's copy while its
// repair runs (a CI run of TestRepairSurvivesProcessKill read the deleted
// value so).
func TestRepairQueueNodeCounterNeverDipsToZero(t *testing.T) {
	q := NewRepairQueue(RepairConfig{})
	now := time.Now()
	q.Add(Repair{NodeID: "c0", Key: "k", Kind: RepairDelete}, now)
	counter := q.NodeCounter("c0")
	stop := make(chan struct{})
	zero := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if counter.Load() == 0 {
				select {
				case zero <- struct{}{}:
				default:
				}
			}
		}
	}()
	for i := range 20000 {
		rs := q.Due(now, 1)
		if len(rs) != 1 {
			t.Fatalf("round %d: %d repairs due, want 1", i, len(rs))
		}
		if i%2 == 0 {
			q.Add(Repair{NodeID: "c0", Key: "k", Kind: RepairDelete}, now) // a newer repair of the key, while one runs
			q.Finish(rs[0])
		} else {
			q.RetryAt(rs[0], now, now)
		}
	}
	close(stop)
	select {
	case <-zero:
		t.Fatal("the node's counter read 0 while its repair was queued or running")
	default:
	}
	if got := counter.Load(); got != 1 {
		t.Fatalf("counter %d at the end, want 1 (the queued repair)", got)
	}
}
