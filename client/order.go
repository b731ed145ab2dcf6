package client

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// orderShards is how many locks the write order is split over.
const orderShards = 64

// writeOrder makes the client's writes of one key reach each replica in the
// order they were issued. Every request that changes a key on a node (a
// write, delete, touch, read repair, lease write or repair delete) takes a
// ticket in the (node, key) chain when it is issued, on the issuing
// goroutine, before any goroutine carries it; it is sent only once the
// previous ticket of the chain has finished, and finishes when its request
// has been answered, has failed, or was given up with its connection reset
// (a request its caller stopped waiting for on a live connection holds the
// ticket through the transport's Fence until its reply is read). So a later
// request never overtakes an earlier one on another connection or pool.
// Writes of different keys, or of one key to different nodes, do not wait
// for each other. A chain exists only while it has unfinished tickets.
type writeOrder struct {
	seed   maphash.Seed
	shards [orderShards]orderShard
}

type orderShard struct {
	mu   sync.Mutex
	tail map[orderKey]*ticket // the last ticket of each live chain
	_    [48]byte             // keep shards on separate cache lines
}

// orderKey names a chain: a node's transport (shared by every view that
// has the node's address, so chains survive SetTopology) and a node key.
type orderKey struct {
	tn  *nodeclient.Node
	key string
}

func newWriteOrder() *writeOrder { return &writeOrder{seed: maphash.MakeSeed()} }

// ticket is one request's place in its chain. While the request runs it is
// also the request's context: it answers nodeclient.FenceKey with itself, so
// that the transport holds it for a request given up while still in flight.
type ticket struct {
	context.Context
	shard *orderShard
	k     orderKey
	prev  *ticket // the ticket to wait for (nil: none)
	// done is made by a successor that has to wait (under the shard lock)
	// and closed when the ticket finishes.
	done  chan struct{}
	holds atomic.Int32 // the issuer's, plus the transport's Fence holds
}

// register puts t at the end of the chain of (tn, key). Call it on the
// goroutine that issues the request, in issue order.
func (o *writeOrder) register(t *ticket, tn *nodeclient.Node, key string) {
	s := &o.shards[maphash.String(o.seed, key)%orderShards]
	t.shard, t.k = s, orderKey{tn, key}
	t.holds.Store(1)
	s.mu.Lock()
	if s.tail == nil {
		s.tail = make(map[orderKey]*ticket)
	}
	// A ticket in the map has not finished: finishing removes it.
	if p := s.tail[t.k]; p != nil {
		if p.done == nil {
			p.done = make(chan struct{})
		}
		t.prev = p
	}
	s.tail[t.k] = t
	s.mu.Unlock()
}

// registerAll registers a ticket for key on each member, in order.
func (o *writeOrder) registerAll(ms []*member, key string) []ticket {
	ts := make([]ticket, len(ms))
	for i, m := range ms {
		o.register(&ts[i], m.tn, key)
	}
	return ts
}

// errWaitTimeout is the cause of a request not sent because an earlier
// request of its key to its node did not finish within the pool timeout.
var errWaitTimeout = fmt.Errorf("%w waiting for an earlier write of the key to the node", nodeclient.ErrTimeout)

// wait returns once the ticket before t has finished, or fails when ctx
// ends or timeout passes first; then t is dropped (its request must not be
// sent) and finishes when its predecessor does.
func (t *ticket) wait(ctx context.Context, timeout time.Duration) error {
	p := t.prev
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		t.prev = nil
		return nil
	default:
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var err error
	select {
	case <-p.done:
		t.prev = nil
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errWaitTimeout
	}
	t.drop()
	return err
}

// drop gives t up without sending its request: it finishes as soon as its
// predecessor has, so the chain stays in issue order.
func (t *ticket) drop() {
	p := t.prev
	if p == nil {
		t.release()
		return
	}
	t.prev = nil
	select {
	case <-p.done:
		t.release()
	default:
		go func() {
			<-p.done
			t.release()
		}()
	}
}

// dropAll drops tickets whose requests will not be sent.
func dropAll(ts []ticket) {
	for i := range ts {
		ts[i].drop()
	}
}

// Hold is the transport's Fence: a request of t was given up while in
// flight.
func (t *ticket) Hold() { t.holds.Add(1) }

// Release is the transport's Fence: a held request has finished.
func (t *ticket) Release() { t.release() }

// release drops one hold; the last one finishes t.
func (t *ticket) release() {
	if t.holds.Add(-1) != 0 {
		return
	}
	s := t.shard
	s.mu.Lock()
	if t.done != nil {
		close(t.done)
	}
	if s.tail[t.k] == t {
		delete(s.tail, t.k)
	}
	s.mu.Unlock()
}

// Value answers nodeclient.FenceKey with t, and any other key from the
// request's context.
func (t *ticket) Value(key any) any {
	if _, ok := key.(nodeclient.FenceKey); ok {
		return t
	}
	return t.Context.Value(key)
}

// pending returns how many chains have unfinished tickets, for tests.
func (o *writeOrder) pending() int {
	n := 0
	for i := range o.shards {
		s := &o.shards[i]
		s.mu.Lock()
		n += len(s.tail)
		s.mu.Unlock()
	}
	return n
}
