package client

import (
	"errors"
	"sync"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// DefaultRepairRecheck is Config.RepairRecheck's default.
const DefaultRepairRecheck = time.Second

// Bits of a repair's Kind that this package adds to replication's kinds;
// they are spooled with it, so a recheck survives the process.
const (
	// repairRecheck: the replica's write was given up while in flight; once
	// the repair has succeeded, it runs once more RepairRecheck later.
	repairRecheck replication.RepairKind = 0x80
	// repairRechecking: this run is that second one.
	repairRechecking replication.RepairKind = 0x40
)

// rechecks are the (node, key)s whose repair needs its recheck: a newer
// repair of the same replica (which replaces the pending one in the queue
// and the spool) inherits the need, until a recheck has succeeded.
type rechecks struct {
	mu  sync.Mutex
	ids map[repairKey]struct{}
}

// maxRechecks bounds the set: beyond it (repairs dropped without a
// recheck leave their entry) it is cleared, and newer repairs of those
// replicas only lose the inherited recheck.
const maxRechecks = 1 << 16

// stick marks r for a recheck when it needs one itself or a pending repair
// of its replica did.
func (s *rechecks) stick(r replication.Repair) replication.Repair {
	id := repairKey{r.NodeID, r.Key}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Kind&(repairRecheck|repairRechecking) != 0 {
		if s.ids == nil || len(s.ids) >= maxRechecks {
			s.ids = make(map[repairKey]struct{})
		}
		s.ids[id] = struct{}{}
		r.Kind = r.Kind&^repairRechecking | repairRecheck
		return r
	}
	if _, ok := s.ids[id]; ok {
		r.Kind |= repairRecheck
	}
	return r
}

func (s *rechecks) forget(r replication.Repair) {
	s.mu.Lock()
	delete(s.ids, repairKey{r.NodeID, r.Key})
	s.mu.Unlock()
}

// givenUpInFlight reports whether a replica write's failure may have left
// the request in the node's socket buffer, to be applied later: a request
// whose connection failed or was reset under it (whatever the cause, an
// opening breaker included) or that timed out, and anything else but a
// request known not to have been sent (open breaker, failed dial, closed
// node, a turn in the write order not reached).
func givenUpInFlight(err error) bool {
	switch {
	case errors.Is(err, nodeclient.ErrConnClosed):
		return true
	case errors.Is(err, errWaitTimeout):
		return false
	}
	return !errors.Is(err, nodeclient.ErrCircuitOpen) && !errors.Is(err, nodeclient.ErrUnreachable) &&
		!errors.Is(err, nodeclient.ErrClosed)
}

// repairKindFor is the repair of a replica whose write failed with err.
func repairKindFor(kind replication.RepairKind, err error) replication.RepairKind {
	if givenUpInFlight(err) {
		return kind | repairRecheck
	}
	return kind
}

// recheckLater handles a repair that has just succeeded: one that needs a
// recheck is queued again, due RepairRecheck from now, and it reports
// true; the recheck's own success ends the replica's need.
func (cc *core) recheckLater(r replication.Repair) bool {
	if r.Kind&repairRecheck != 0 && cc.cfg.RepairRecheck > 0 {
		r.Kind = r.Kind&^repairRecheck | repairRechecking
		now := time.Now()
		cc.repairs.RetryAt(r, now, now.Add(cc.cfg.RepairRecheck))
		cc.metrics.repairs.WithLabelValues("recheck").Inc()
		return true
	}
	cc.rechecks.forget(r)
	return false
}
