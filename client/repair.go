package client

import (
	"context"
	"time"

	"github.com/zonecache/zonecache/internal/transport"
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
			cc.repairs.Finish(r)
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
	err := cc.attempt(ctx, transport.Batch, "repair", m, func(ctx context.Context, p *transport.Pool) error {
		return p.Delete(ctx, r.Key)
	})
	if outcome(err) {
		cc.repairs.Finish(r)
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
func (c *Client) PendingRepairs() int {
	s := c.c.repairs.Stats()
	return s.Pending + s.Running
}
