package client

import (
	"context"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// repairBatch bounds the repairs tried per wake-up.
const repairBatch = 64

// repairLoop drains the repair queue: every due repair deletes its key on
// its replica through the batch pool (a failed delete, and a failed write
// whose replica may hold an older value, are both repaired by deleting
// there). A failure goes back with a doubling backoff. A repair of a node
// that left the topology is parked, in case the node returns with its
// data: SetTopology makes it due again the moment the node is back, and it
// is dropped once Config.RepairAbsentGrace has passed since it was first
// found absent. A repair whose key has expired is dropped.
func (cc *core) repairLoop(ctx context.Context) {
	t := time.NewTimer(cc.cfg.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cc.repairWake:
		case <-t.C:
			t.Reset(cc.cfg.RepairInterval)
		}
		for {
			due := cc.repairs.Due(time.Now(), repairBatch)
			if len(due) == 0 {
				break
			}
			for _, r := range due {
				cc.runRepair(ctx, r)
			}
			if ctx.Err() != nil {
				return
			}
		}
	}
}

func (cc *core) runRepair(ctx context.Context, r replication.Repair) {
	m := cc.view.Load().byID[r.NodeID]
	if m == nil {
		now := time.Now()
		if r.Absent.IsZero() {
			r.Absent = now
		}
		if now.Sub(r.Absent) >= cc.cfg.RepairAbsentGrace {
			cc.metrics.repairs.WithLabelValues("dropped").Inc()
			cc.finishRepair(r)
			return
		}
		cc.metrics.repairs.WithLabelValues("absent").Inc()
		cc.repairs.RetryAt(r, now, r.Absent.Add(cc.cfg.RepairAbsentGrace))
		// SetTopology may have brought the node back after the view was
		// read above, while this repair was out of the queue, where its
		// Expedite could not see it.
		if cc.view.Load().byID[r.NodeID] != nil {
			cc.repairs.Expedite(r.NodeID, time.Now())
		}
		return
	}
	r.Absent = time.Time{}
	err := cc.write(ctx, nodeclient.Batch, "repair", m, r.Key, func(ctx context.Context, p *nodeclient.Pool) error {
		return cc.deleteOn(ctx, p, r.Key)
	})
	if outcome(err) {
		if cc.recheckLater(r) {
			return
		}
		cc.finishRepair(r)
		cc.metrics.repairs.WithLabelValues("ok").Inc()
		cc.cfg.Logger.Debug("zonecache: replica repaired", "node", r.NodeID, "key", r.Key, "attempts", r.Attempts+1)
		return
	}
	cc.metrics.repairs.WithLabelValues("retry").Inc()
	cc.repairs.Retry(r, time.Now())
}

// expediteRepairs makes the pending repairs of the nodes that v has and old
// had not (a node back after gossip declared it dead) due at once, and
// wakes the repair loop.
func (cc *core) expediteRepairs(old, v *view) {
	n := 0
	for id := range v.byID {
		if old.byID[id] == nil {
			n += cc.repairs.Expedite(id, time.Now())
		}
	}
	if n > 0 {
		select {
		case cc.repairWake <- struct{}{}:
		default:
		}
	}
}

// PendingRepairs returns how many failed replica writes wait for repair or
// are being repaired.
func (c *Client) PendingRepairs() int { return c.c.pendingRepairs() }

// addRepair queues r and, with a spool, persists it first (rmu keeps the
// spool's newest repair of a node and key the queue's too). It reports
// whether r is in the spool.
func (cc *core) addRepair(r replication.Repair, now time.Time) bool {
	spooled := false
	r = cc.rechecks.stick(r)
	if cc.spool != nil {
		cc.rmu.Lock()
		defer cc.rmu.Unlock()
		r.Seq, spooled = cc.spool.add(r, now)
	}
	if !cc.repairs.Add(r, now) {
		cc.spoolFinish(r)
		return false
	}
	cc.wakeRepairs()
	return spooled
}

// finishRepair ends a repair handed out by the queue: done or given up.
func (cc *core) finishRepair(r replication.Repair) {
	cc.repairs.Finish(r)
	cc.spoolFinish(r)
}

func (cc *core) spoolFinish(r replication.Repair) {
	if cc.spool != nil {
		cc.spool.finish(r)
	}
}

func (cc *core) wakeRepairs() {
	select {
	case cc.repairWake <- struct{}{}:
	default:
	}
}

// chainCallbacks hooks the client into cfg's callbacks, after the user's
// own: a repair the queue drops for room leaves the spool too, a node
// whose breaker closes has its repairs run at once rather than after
// their backoff (up to Repair.MaxBackoff, 10 s by default), and is
// quarantined (before the user's BeforeClose) just before it closes.
func (cc *core) chainCallbacks(cfg Config) Config {
	userDrop := cfg.Repair.OnDrop
	cfg.Repair.OnDrop = func(r replication.Repair) {
		cc.spoolFinish(r)
		if userDrop != nil {
			userDrop(r)
		}
	}
	userChange := cfg.Node.Breaker.OnStateChange
	cfg.Node.Breaker.OnStateChange = func(addr string, from, to nodeclient.State) {
		if userChange != nil {
			userChange(addr, from, to)
		}
		if to == nodeclient.StateClosed {
			cc.expediteAddr(addr)
		}
	}
	userBefore := cfg.Node.Breaker.BeforeClose
	cfg.Node.Breaker.BeforeClose = func(addr string) {
		// Quarantined before any read can reach the node again.
		cc.quar.start(addr, time.Now())
		if userBefore != nil {
			userBefore(addr)
		}
	}
	return cfg
}

// expediteAddr makes the repairs of the node at addr due now.
func (cc *core) expediteAddr(addr string) {
	v := cc.view.Load()
	if v == nil {
		return
	}
	n := 0
	for id, m := range v.byID {
		if m.node.Addr == addr {
			n += cc.repairs.Expedite(id, time.Now())
		}
	}
	if n > 0 {
		cc.wakeRepairs()
	}
}

// gated reports whether this client has a repair of key queued or running
// on m, or m's node is quarantined after its return: m's copy may be older
// than an acknowledged write or delete, so a read must not take it. Two
// atomic loads while m has no repair pending and no node is quarantined.
func (cc *core) gated(m *member, key string) bool {
	if cc.quarantined(m) {
		return true
	}
	if m.pending.Load() == 0 || !cc.repairs.Has(m.node.ID, key) {
		return false
	}
	cc.metrics.gatedReads.Inc()
	return true
}

func (cc *core) pendingRepairs() int {
	s := cc.repairs.Stats()
	return s.Pending + s.Running
}
