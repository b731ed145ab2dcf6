package membership

import (
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// byePrefix starts the message a member sends every other member as it
// leaves on purpose (Leave): "zc-bye:NAME". Its departure is then never
// held (see holdIfInContact).
const byePrefix = "zc-bye:"

// holdContact is how recent a failed member's last contact message must
// be for it to count as still in contact: B/2, twice the contact period.
func (h *health) holdContact() time.Duration { return h.bound / 2 }

// holdMax is the longest a failed member still in contact is kept in the
// topology: B, several gossip rounds for its refutation to spread.
func (h *health) holdMax() time.Duration { return h.bound }

// holdIfInContact reports whether the member name, which memberlist just
// declared failed, is to stay in the topology for now, and marks it held:
// this member heard from it within holdContact, so the death is another
// member's verdict (most often one cut off from the fleet moments ago,
// whose suspicion, raised during the cut, matured after the heal) and the
// member, running, will refute it within a few gossip rounds. Dropping it
// meanwhile would make clients that follow this member write its keys
// elsewhere for that moment, and the member would have to fence and flush
// its cache. A member that said goodbye, or any member while this one is
// isolated, is not held.
func (h *health) holdIfInContact(name string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.known[name]
	if p == nil || !p.alive || p.bye || h.isol || now.Sub(p.heard) > h.holdContact() {
		return false
	}
	if p.heldSince.IsZero() {
		p.heldSince = now
	}
	return true
}

// endHolds returns the held members to drop now, no longer held: their
// contact lapsed (no message within holdContact) or they were held for
// holdMax without refuting.
func (h *health) endHolds(now time.Time) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for name, p := range h.known {
		if p.heldSince.IsZero() {
			continue
		}
		if now.Sub(p.heard) > h.holdContact() || now.Sub(p.heldSince) > h.holdMax() || p.bye {
			p.heldSince = time.Time{}
			out = append(out, name)
		}
	}
	return out
}

// heldNow reports whether name is held: failed for memberlist, kept in
// the topology.
func (h *health) heldNow(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.known[name]
	return p != nil && !p.heldSince.IsZero()
}

// farewell tells every member in the topology that this one leaves on
// purpose, so that none holds it (best effort: a lost message delays its
// removal by at most holdContact).
func (h *health) farewell() {
	h.mu.Lock()
	to := make(map[string]string, len(h.known))
	for name, p := range h.known {
		if p.alive {
			to[name] = p.addr
		}
	}
	h.mu.Unlock()
	msg := []byte(byePrefix + h.m.cfg.NodeName)
	for name, addr := range to {
		_ = h.m.list.SendToAddress(memberlist.Address{Addr: addr, Name: name}, msg)
	}
}

// bye records a member's goodbye; it reports false for another message.
func (h *health) bye(msg []byte) bool {
	name, ok := strings.CutPrefix(string(msg), byePrefix)
	if !ok {
		return false
	}
	h.mu.Lock()
	if p := h.known[name]; p != nil {
		p.bye = true
	}
	h.mu.Unlock()
	return true
}

// dropEndedHolds drops from the topology the held members whose hold
// ended, as memberlist's failure would have.
func (m *Member) dropEndedHolds(now time.Time) {
	m.eventsMu.Lock()
	defer m.eventsMu.Unlock()
	for _, name := range m.health.endHolds(now) {
		m.log.Info("member declared failed is no longer in contact, or did not refute in time: dropped", "member", name)
		m.drop(name)
	}
}
