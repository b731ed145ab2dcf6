package membership

import (
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// droppedPrefix starts the notice a member sends, with its contact
// messages, to each member it holds failed: "zc-dropped:FROM\nTO", TO
// being the failed member's name, so that another process now at that
// address ignores it.
const droppedPrefix = "zc-dropped:"

// sendDropped tells every member this one holds failed (known, not in the
// topology), or held failed since the last round, that it does, unless it
// held it failed while cut off from most of the fleet: clients follow the
// largest view, which kept that member, so it missed no writes (without
// this, after a zone cut healed, the cut-off members fenced those of the
// majority until the two sides merged again).
func (h *health) sendDropped() {
	h.mu.Lock()
	to := make(map[string]string)
	for name, p := range h.known {
		if (!p.alive && !p.minorityVerdict) || p.noticeDue {
			to[name] = p.addr
			p.noticeDue = false
		}
	}
	h.mu.Unlock()
	for name, addr := range to {
		msg := []byte(droppedPrefix + h.m.cfg.NodeName + "\n" + name)
		_ = h.m.list.SendToAddress(memberlist.Address{Addr: addr, Name: name}, msg)
	}
}

// notice handles a message that may say its sender holds this member
// dead. memberlist alone does not always tell: a member that comes back
// (a pause, a one-way loss) first refutes the suspicion queued for it,
// which raises its incarnation, and then ignores the death as older, so
// no "Refuting a dead message" line is ever logged while clients dropped
// it and wrote its keys elsewhere.
func (h *health) notice(msg []byte) {
	rest, ok := strings.CutPrefix(string(msg), droppedPrefix)
	if !ok {
		return
	}
	from, to, ok := strings.Cut(rest, "\n")
	if !ok || to != h.m.cfg.NodeName {
		return
	}
	now := time.Now()
	if h.declaredByMinority(from, now) {
		h.m.log.Debug("a member cut off from this one holds it dead; the fleet kept it, so the cache stays", "from", from)
		return
	}
	if h.isolatedLately(now) {
		h.m.log.Debug("a member holds this one dead since it was cut off from the fleet; the isolation's own invalidation covers it", "from", from)
		return
	}
	if h.heldDeadBy(now) {
		h.m.log.Warn("a member holds this one dead: serving no hits and taking no writes until none has for the pause bound", "from", from, "bound", h.bound)
	}
}

// heldDeadBy records a sign, at now, that a member holds this one dead,
// and fences the cache at once; it reports whether it was not fenced for
// that already.
func (h *health) heldDeadBy(now time.Time) bool {
	h.mu.Lock()
	h.droppedAt = now
	first := !h.dropped
	h.mu.Unlock()
	if first {
		h.fence(now)
	}
	return first
}

// isolatedLately reports whether this member found itself cut off from
// most of the fleet within the minority window: a death the fleet
// declared then is covered by the isolation's fence and the invalidation
// when contact came back. Fencing and flushing again for it would drop
// the repairs the node took since (the checker's zone-cut lost them).
func (h *health) isolatedLately(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.isol || h.minorityLately(now)
}
