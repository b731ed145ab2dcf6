package client

import (
	"fmt"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// startSpool opens Config.RepairSpoolDir, if set, and takes over the
// repairs of clients that left it: each goes into this client's segment
// and queue, their segments are removed once it is synced. A repair whose
// node ID the topology does not know is matched by address; failing that,
// it follows the rule of an absent node (kept for RepairAbsentGrace).
func (cc *core) startSpool() error {
	dir := cc.cfg.RepairSpoolDir
	if dir == "" {
		return nil
	}
	s, err := openSpool(dir, cc.cfg.RepairSpoolBytes, cc.cfg.RepairSpoolSync, cc.cfg.Logger)
	if err != nil {
		return fmt.Errorf("zonecache: %w", err)
	}
	s.onFull, s.onError = cc.metrics.spoolFull.Inc, cc.metrics.spoolErrors.Inc
	cc.spool = s
	now := time.Now()
	adopted, o := adoptOrphans(dir, now, cc.cfg.Logger)
	v := cc.view.Load()
	kept := true
	for _, r := range adopted {
		r.Seq, r.Attempts, r.Absent = 0, 0, time.Time{}
		kept = cc.addRepair(resolveNode(v, r), now) && kept
	}
	s.sync()
	o.release(kept)
	if len(adopted) > 0 {
		cc.metrics.spoolReplayed.Add(float64(len(adopted)))
		cc.cfg.Logger.Info("zonecache: repairs taken over from the spool", "dir", dir, "repairs", len(adopted))
	}
	return nil
}

// resolveNode gives a replayed repair the ID of the node at its address
// when the topology does not know its node ID.
func resolveNode(v *view, r replication.Repair) replication.Repair {
	if v.byID[r.NodeID] != nil || r.Addr == "" {
		return r
	}
	for id, m := range v.byID {
		if m.node.Addr == r.Addr {
			r.NodeID = id
			break
		}
	}
	return r
}

// drainRepairs gives the pending repairs Config.CloseTimeout to run, all
// made due at once.
func (cc *core) drainRepairs() {
	if cc.cfg.CloseTimeout < 0 || cc.pendingRepairs() == 0 {
		return
	}
	deadline := time.NewTimer(cc.cfg.CloseTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	cc.repairs.ExpediteAll(time.Now())
	cc.wakeRepairs()
	for cc.pendingRepairs() > 0 {
		select {
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}
