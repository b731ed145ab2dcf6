package membership

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/zonecache/zonecache/replication"
)

// Fence is what a member tells its cache when it may have been out of the
// fleet's topology, so that the cache never serves a value older than a
// write made meanwhile elsewhere. *server.Server implements it.
type Fence interface {
	// SetIsolated(true) stops serving hits while the member has lost
	// contact with most of the fleet; SetIsolated(false) invalidates
	// everything and serves again.
	SetIsolated(isolated bool)
	// InvalidateAll discards everything the cache holds; cause says why.
	InvalidateAll(cause string)
}

// CauseRefuted is the cause passed to Fence.InvalidateAll when the fleet
// declared this member dead and it refuted (a gossip flap).
const CauseRefuted = "refuted"

// DefaultForgetAfter is Config.ForgetAfter's default.
const DefaultForgetAfter = time.Hour

// contactPrefix starts the contact messages members send each other.
const contactPrefix = "zc-contact:"

// PauseBound is B, the longest a member of a fleet configured as cfg may
// go without running (a pause) or without contact with most of the fleet
// before it must assume it was dropped. It is half the shortest time the
// fleet can take to drop a member: the suspicion timeout's minimum,
// SuspicionMult·PI (memberlist never shortens it below that, and a failed
// probe comes first), so B = SuspicionMult·PI/2: 1.5 s on local (PI 1 s,
// SuspicionMult 3), 2 s on lan (4), 15 s on wan (6, PI 5 s), scaled by
// ProbeInterval when set (local with 200 ms: 300 ms).
func PauseBound(cfg Config) (time.Duration, error) {
	mc, err := timings(cfg.Profile, cfg.ProbeInterval)
	if err != nil {
		return 0, err
	}
	return time.Duration(mc.SuspicionMult) * mc.ProbeInterval / 2, nil
}

// health tracks which members this one is in contact with, to tell when
// it is cut off from most of the fleet, and which failed members to
// rejoin.
type health struct {
	m     *Member
	bound time.Duration // B: contact older than this is lost
	mu    sync.Mutex
	known map[string]*peer // other members seen alive, not yet forgotten
	isol  bool
	// lastMinority is the last check that found this member in contact
	// with no more than half the fleet (isolated, or one of equal halves).
	lastMinority time.Time
	heardN       int // members in contact at the last check, this one included
	knownN       int // members known at the last check, this one included
	// droppedAt is the last sign that a member holds this one dead (a
	// notice, or a death refuted); zero when none. dropped is whether the
	// fence was last told so, fenced what it was last told.
	droppedAt time.Time
	dropped   bool
	fenced    bool
	fenceMu   sync.Mutex // orders what fence tells the Fence
	stop      chan struct{}
	kick      chan struct{} // runs a contact round now: a member failed
	once      sync.Once
	loops     sync.WaitGroup
	msgBuf    []byte
}

// peer is what health remembers of another member.
type peer struct {
	addr      string    // gossip address, ip:port
	alive     bool      // in the topology
	heard     time.Time // last contact message, or when it came alive
	deadSince time.Time
	lapsed    time.Time // the last check that found no contact within B
	// noticeDue is set when the member fails, and cleared once a dropped
	// notice went to it: a death refuted at once is still told.
	noticeDue bool
	// minorityVerdict: this member held it failed while cut off from
	// most of the fleet, a verdict clients do not follow; it is not told.
	minorityVerdict bool
	// heldSince: memberlist declared it failed while it was still in
	// contact, and it is kept in the topology (hold.go); zero otherwise.
	heldSince time.Time
	// bye: it said goodbye (Leave); its departure is not held.
	bye bool
}

func newHealth(m *Member, bound time.Duration) *health {
	return &health{m: m, bound: bound, known: make(map[string]*peer), stop: make(chan struct{}),
		kick: make(chan struct{}, 1), msgBuf: []byte(contactPrefix + m.cfg.NodeName)}
}

// alive records that n is in the topology.
func (h *health) alive(n *memberlist.Node) {
	if n.Name == h.m.cfg.NodeName {
		return
	}
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.known[n.Name]
	if p == nil {
		p = &peer{}
		h.known[n.Name] = p
	}
	if !p.alive {
		p.heard = time.Now()
	}
	p.addr, p.alive, p.heldSince, p.bye = addr, true, time.Time{}, false
}

// gone records that n left the topology; a member that was draining left
// on purpose and is forgotten at once, any other is remembered as failed
// for ForgetAfter, and is sent a dropped notice at once unless this member
// is cut off from most of the fleet.
func (h *health) gone(name string, last replication.NodeState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.known[name]
	if p == nil {
		return
	}
	if last == replication.Draining {
		delete(h.known, name)
		return
	}
	p.alive, p.deadSince, p.minorityVerdict = false, time.Now(), h.isol
	if h.isol {
		return
	}
	p.noticeDue = true
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// heard records a contact message, or passes on a notice that the
// sender holds this member dead.
func (h *health) heard(msg []byte) {
	name, ok := strings.CutPrefix(string(msg), contactPrefix)
	if !ok {
		if !h.bye(msg) {
			h.notice(msg)
		}
		return
	}
	h.mu.Lock()
	if p := h.known[name]; p != nil {
		p.heard = time.Now()
	}
	h.mu.Unlock()
}

// contactLoop sends a contact message to every known member every B/4,
// and at once when one fails, with dropped notices to the failed ones, and
// fences the cache while fewer than half the known members (this one
// included) were heard from within B, or while a member holds this one
// dead.
func (h *health) contactLoop() {
	defer h.loops.Done()
	t := time.NewTicker(max(h.bound/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		case <-h.kick:
		}
		now := time.Now()
		addrs, isolated, changed, heardN, knownN := h.check(now)
		for name, addr := range addrs {
			_ = h.m.list.SendToAddress(memberlist.Address{Addr: addr, Name: name}, h.msgBuf)
		}
		h.sendDropped()
		h.m.dropEndedHolds(now)
		if changed {
			if isolated {
				h.m.log.Warn("lost contact with most of the fleet: serving no hits", "in_contact", heardN, "known", knownN, "bound", h.bound)
			} else {
				h.m.log.Info("back in contact with most of the fleet", "in_contact", heardN, "known", knownN)
			}
		}
		h.fence(now)
	}
}

// fence tells the Fence whether to fence the cache now: while isolated or
// dropped. Calls that change nothing tell nothing.
func (h *health) fence(now time.Time) {
	h.fenceMu.Lock()
	defer h.fenceMu.Unlock()
	h.mu.Lock()
	wasDropped := h.dropped
	h.dropped = !h.droppedAt.IsZero() && now.Sub(h.droppedAt) <= h.bound
	fenced := h.isol || h.dropped
	changed := fenced != h.fenced
	h.fenced = fenced
	dropped := h.dropped
	h.mu.Unlock()
	if wasDropped && !dropped {
		h.m.log.Info("no member has held this one dead for the pause bound: invalidating the cache, then serving", "bound", h.bound)
	}
	if f := h.m.cfg.Fence; f != nil && changed {
		f.SetIsolated(fenced)
	}
}

// check forgets members failed for longer than ForgetAfter and returns
// the addresses to send contact messages to and whether the member is
// isolated (and whether that changed).
func (h *health) check(now time.Time) (addrs map[string]string, isolated, changed bool, heardN, knownN int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	addrs = make(map[string]string, len(h.known))
	heardN, knownN = 1, 1
	for name, p := range h.known {
		if !p.alive && now.Sub(p.deadSince) > h.m.cfg.ForgetAfter {
			delete(h.known, name)
			continue
		}
		addrs[name] = p.addr
		knownN++
		if now.Sub(p.heard) <= h.bound {
			heardN++
		} else {
			p.lapsed = now
		}
	}
	isolated = heardN*2 < knownN
	if heardN*2 <= knownN {
		h.lastMinority = now
	}
	changed = isolated != h.isol
	h.isol, h.heardN, h.knownN = isolated, heardN, knownN
	return addrs, isolated, changed, heardN, knownN
}

// minorityWindow is how long after losing contact with a member a death
// it declared counts as declared from the other side of a partition.
func (h *health) minorityWindow() time.Duration { return 4 * h.bound }

// declaredByMinority reports whether a death that member from declared
// about this one came from across a partition this member was on the
// majority side of: this member stayed in contact with more than half the
// fleet while it had lost contact with from. Clients follow the largest
// view, which kept this member, so it missed no writes and its cache
// stays. Equal halves are no majority: both still invalidate.
func (h *health) declaredByMinority(from string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.known[from]
	if p == nil || p.lapsed.IsZero() || now.Sub(p.lapsed) > h.minorityWindow() {
		return false
	}
	return !h.minorityLately(now)
}

// minorityLately reports whether this member found itself cut off from
// most of the fleet within the minority window; h.mu is held.
func (h *health) minorityLately(now time.Time) bool {
	return !h.lastMinority.IsZero() && now.Sub(h.lastMinority) <= h.minorityWindow()
}

// isolated reports whether the member is cut off from most of the fleet.
func (h *health) isolated() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.isol
}

// heldDead reports whether the cache is fenced because members hold this
// one dead.
func (h *health) heldDead() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}

// contact returns the last check's members in contact and known (this one
// included; 1 and 1 before the first check) and whether it is isolated.
func (h *health) contact() (heard, known int, isolated bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(h.heardN, 1), max(h.knownN, 1), h.isol
}

// failed returns the gossip addresses of known members not in the
// topology.
func (h *health) failed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, p := range h.known {
		if !p.alive {
			out = append(out, p.addr)
		}
	}
	return out
}

// aliveAddrs returns the gossip addresses of the members in the topology.
func (h *health) aliveAddrs() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]bool, len(h.known))
	for _, p := range h.known {
		if p.alive {
			out[p.addr] = true
		}
	}
	return out
}

func (h *health) close() {
	h.once.Do(func() { close(h.stop) })
}

// refuted handles memberlist's line about a dead message it refuted: the
// cache is invalidated unless the death was declared from across a
// partition this member was on the majority side of.
func (m *Member) refuted(line string) {
	from := declarer(line)
	if h := m.health; h != nil && from != "" && h.declaredByMinority(from, time.Now()) {
		m.log.Info("a member cut off from this one declared it dead; the fleet kept it, so the cache stays", "from", from)
		return
	}
	m.log.Warn("the fleet declared this member dead; it refuted", "memberlist", line)
	if f := m.cfg.Fence; f != nil {
		f.InvalidateAll(CauseRefuted)
	}
	if h := m.health; h != nil {
		if now := time.Now(); !h.isolatedLately(now) {
			h.heldDeadBy(now)
		}
	}
}

// declarer is the member named in memberlist's "(from: NAME)", or "".
func declarer(line string) string {
	_, rest, ok := strings.Cut(line, "(from: ")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, ")")
	if !ok {
		return ""
	}
	return name
}
