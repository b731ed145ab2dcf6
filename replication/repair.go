package replication

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// RepairKind is what a repair does to a replica.
type RepairKind uint8

const (
	// RepairDelete deletes the key on the replica: a delete that failed
	// there must not let a stale value outlive the acknowledged delete.
	RepairDelete RepairKind = iota
	// RepairInvalidate marks the key stale or deletes it on the replica: a
	// write that failed there left an older value behind.
	RepairInvalidate
)

// Repair is one pending fix of one key on one replica.
type Repair struct {
	// NodeID is the replica to repair.
	NodeID string
	// Addr is the replica's address when the repair was accepted: a
	// repair replayed by another process (see the client's repair spool)
	// whose NodeID that process's topology does not know is matched by it.
	Addr string
	// Key is the cache key.
	Key string
	// Kind is what to do.
	Kind RepairKind
	// Deadline is when the repair stops mattering: the key's expiry, after
	// which no replica can serve it. The zero time means no expiry.
	Deadline time.Time
	// Attempts counts the tries made so far.
	Attempts int
	// Absent is when the repairer first found NodeID missing from the
	// topology (a node gossip declared dead may come back with its data);
	// zero while the node is known. The repairer keeps such a repair for a
	// grace period, then drops it.
	Absent time.Time
	// Seq identifies the repair's record in a spool that persists it (0:
	// not persisted). The queue carries it; it does not read it.
	Seq uint64

	next   time.Time // earliest next try
	index  int       // position in byNext
	dindex int       // position in byDeadline
}

// RepairConfig configures a RepairQueue. Zero fields take their defaults.
type RepairConfig struct {
	// Capacity bounds the queue; when full, a repair of a node that has
	// left the topology (Repair.Absent set) is dropped first to make room,
	// then the repair with the nearest deadline (it is the one closest to
	// being moot). Default 10,000.
	Capacity int
	// MinBackoff is the delay before the first retry. Default 100 ms.
	MinBackoff time.Duration
	// MaxBackoff caps the doubling delay between retries. Default 10 s.
	MaxBackoff time.Duration
	// OnDrop, if set, is called with every repair the queue drops because
	// it is full, so that whoever persists repairs can forget it too. It
	// runs under the queue's lock: it must not block or call the queue.
	OnDrop func(Repair)
}

// RepairStats counts what happened to repairs.
type RepairStats struct {
	// Pending is the number of repairs queued now.
	Pending int
	// Running is the number of repairs handed out by Due and not yet
	// handed back (Retry, RetryAt) or finished (Finish).
	Running int
	// Dropped counts repairs dropped because the queue was full.
	Dropped uint64
	// Expired counts repairs dropped because their key expired first.
	Expired uint64
}

// RepairQueue holds failed replica writes until they are repaired or their
// key expires: bounded, one repair per (node, key), handed out when its
// backoff has passed. Has tells readers which replica copies await a repair.
// It is safe for concurrent use and does no I/O.
type RepairQueue struct {
	mu         sync.Mutex
	cfg        RepairConfig
	byKey      map[repairID]*Repair
	due        repairHeap   // by next try
	byDeadline deadlineHeap // by deadline, nearest first; none last
	running    map[repairID]int
	nrunning   int
	perNode    map[string]*atomic.Int64 // queued + running, per node
	dropped    uint64
	expired    uint64
}

type repairID struct{ node, key string }

// NewRepairQueue returns an empty queue.
func NewRepairQueue(cfg RepairConfig) *RepairQueue {
	if cfg.Capacity <= 0 {
		cfg.Capacity = 10000
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	return &RepairQueue{cfg: cfg, byKey: make(map[repairID]*Repair), running: make(map[repairID]int),
		perNode: make(map[string]*atomic.Int64)}
}

// NodeCounter returns the number of repairs of node queued or running, as
// a counter the queue keeps up to date: a reader loads it (one atomic
// load) and calls Has only when it is not zero. The pointer stays valid
// for the queue's life.
func (q *RepairQueue) NodeCounter(node string) *atomic.Int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.counter(node)
}

// hold counts one more repair of node until the returned func is called.
// A repair moving between queued and running is taken out of one count
// before it is put in the other: held around the move, the node's counter,
// read without the lock (the client's read gate), never passes through 0
// while the repair exists. Called with q.mu held.
func (q *RepairQueue) hold(node string) (release func()) {
	c := q.counter(node)
	c.Add(1)
	return func() { c.Add(-1) }
}

func (q *RepairQueue) counter(node string) *atomic.Int64 {
	c := q.perNode[node]
	if c == nil {
		c = new(atomic.Int64)
		q.perNode[node] = c
	}
	return c
}

// Has reports whether a repair of key on node is queued or running: until
// it has run, the replica may hold a value older than an acknowledged
// write or delete.
func (q *RepairQueue) Has(node, key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := repairID{node, key}
	_, ok := q.byKey[id]
	return ok || q.running[id] > 0
}

// Finish records that a repair handed out by Due is over: done, or given
// up. Every repair Due returns must come back through Finish, Retry or
// RetryAt.
func (q *RepairQueue) Finish(r Repair) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.finish(repairID{r.NodeID, r.Key})
}

func (q *RepairQueue) finish(id repairID) {
	n, ok := q.running[id]
	if !ok {
		return
	}
	if n <= 1 {
		delete(q.running, id)
	} else {
		q.running[id] = n - 1
	}
	q.nrunning--
	q.counter(id.node).Add(-1)
}

// Add queues r, due at once. A pending repair of the same node and key is
// replaced. It reports false when r was not queued because its deadline has
// passed.
func (q *RepairQueue) Add(r Repair, now time.Time) bool {
	if expiredAt(r.Deadline, now) {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	id := repairID{r.NodeID, r.Key}
	defer q.hold(id.node)()
	if old, ok := q.byKey[id]; ok {
		q.remove(old)
	}
	for len(q.byKey) >= q.cfg.Capacity {
		q.dropNearestDeadline()
	}
	r.next = now
	q.push(id, &r)
	return true
}

// Due removes and returns up to max repairs whose backoff has passed, after
// discarding those whose key has expired. The caller tries each and hands a
// failure back with Retry or RetryAt, and a success (or a repair it gives
// up) to Finish; until then Has still reports the repair.
func (q *RepairQueue) Due(now time.Time, max int) []Repair {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Repair
	for len(q.due) > 0 && len(out) < max {
		r := q.due[0]
		if r.next.After(now) {
			break
		}
		id := repairID{r.NodeID, r.Key}
		release := q.hold(id.node)
		q.remove(r)
		if expiredAt(r.Deadline, now) {
			q.expired++
			release()
			continue
		}
		q.running[id]++
		q.nrunning++
		q.counter(id.node).Add(1)
		release()
		out = append(out, *r)
	}
	return out
}

// Retry queues r again after a backoff that doubles with every attempt. A
// newer repair of the same node and key, added meanwhile, wins.
func (q *RepairQueue) Retry(r Repair, now time.Time) {
	r.Attempts++
	backoff := q.cfg.MinBackoff
	for i := 1; i < r.Attempts && backoff < q.cfg.MaxBackoff; i++ {
		backoff *= 2
	}
	q.RetryAt(r, now, now.Add(min(backoff, q.cfg.MaxBackoff)))
}

// RetryAt queues r again, due at at (its key's expiry at the latest) rather
// than after a backoff: a repair of a node that left the topology waits for
// its return (Expedite) or its grace period. A newer repair of the same node
// and key wins.
func (q *RepairQueue) RetryAt(r Repair, now, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := repairID{r.NodeID, r.Key}
	defer q.hold(id.node)()
	q.finish(id)
	if expiredAt(r.Deadline, now) {
		q.expired++
		return
	}
	if _, newer := q.byKey[id]; newer {
		return
	}
	for len(q.byKey) >= q.cfg.Capacity {
		q.dropNearestDeadline()
	}
	if !r.Deadline.IsZero() && r.Deadline.Before(at) {
		at = r.Deadline
	}
	r.next = at
	q.push(id, &r)
}

// Expedite makes every pending repair of node due now and returns how many
// it moved, for a node that comes back into the topology. It scans the
// queue: call it on topology changes, not per request.
func (q *RepairQueue) Expedite(node string, now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for id, r := range q.byKey {
		if id.node == node && r.next.After(now) {
			r.next = now
			heap.Fix(&q.due, r.index)
			n++
		}
	}
	return n
}

// ExpediteAll makes every pending repair due at now (Close drains the
// queue with it) and returns how many it moved.
func (q *RepairQueue) ExpediteAll(now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, r := range q.byKey {
		if r.next.After(now) {
			r.next = now
			heap.Fix(&q.due, r.index)
			n++
		}
	}
	return n
}

// NextDue returns when the earliest pending repair is due, and false when
// the queue is empty.
func (q *RepairQueue) NextDue() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.due) == 0 {
		return time.Time{}, false
	}
	return q.due[0].next, true
}

// Stats returns the queue's counters.
func (q *RepairQueue) Stats() RepairStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return RepairStats{Pending: len(q.byKey), Running: q.nrunning, Dropped: q.dropped, Expired: q.expired}
}

func (q *RepairQueue) push(id repairID, r *Repair) {
	q.byKey[id] = r
	heap.Push(&q.due, r)
	heap.Push(&q.byDeadline, r)
	q.counter(id.node).Add(1)
}

func (q *RepairQueue) remove(r *Repair) {
	heap.Remove(&q.due, r.index)
	heap.Remove(&q.byDeadline, r.dindex)
	delete(q.byKey, repairID{r.NodeID, r.Key})
	q.counter(r.NodeID).Add(-1)
}

// dropNearestDeadline drops a repair of an absent node, else the repair
// whose key expires soonest (it is the closest to being moot); repairs
// without a deadline are dropped last. It runs when the queue is full, in
// O(log n).
func (q *RepairQueue) dropNearestDeadline() {
	r := q.byDeadline[0]
	q.remove(r)
	q.dropped++
	if q.cfg.OnDrop != nil {
		q.cfg.OnDrop(*r)
	}
}

// dropFirst orders repairs for dropping: those of absent nodes first, then
// by deadline.
func dropFirst(a, b *Repair) bool {
	if aa, ba := !a.Absent.IsZero(), !b.Absent.IsZero(); aa != ba {
		return aa
	}
	return earlierDeadline(a.Deadline, b.Deadline)
}

func earlierDeadline(a, b time.Time) bool {
	switch {
	case a.IsZero():
		return false
	case b.IsZero():
		return true
	}
	return a.Before(b)
}

func expiredAt(deadline, now time.Time) bool { return !deadline.IsZero() && !now.Before(deadline) }

// repairHeap orders repairs by their next try.
type repairHeap []*Repair

func (h repairHeap) Len() int           { return len(h) }
func (h repairHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h repairHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *repairHeap) Push(x any) {
	r := x.(*Repair)
	r.index = len(*h)
	*h = append(*h, r)
}
func (h *repairHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// deadlineHeap orders repairs for dropping (dropFirst): those of absent
// nodes first, then by deadline, nearest first, those without a deadline
// last.
type deadlineHeap []*Repair

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return dropFirst(h[i], h[j]) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].dindex, h[j].dindex = i, j
}
func (h *deadlineHeap) Push(x any) {
	r := x.(*Repair)
	r.dindex = len(*h)
	*h = append(*h, r)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}
