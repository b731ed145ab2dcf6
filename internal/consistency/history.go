package consistency

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Op is what a write did to its key.
type Op uint8

// The writes the checker's writer makes.
const (
	// OpSet stored the value "<key>:<version>".
	OpSet Op = iota + 1
	// OpDelete deleted the key.
	OpDelete
)

func (o Op) String() string {
	switch o {
	case OpSet:
		return "set"
	case OpDelete:
		return "delete"
	}
	return "op?"
}

// Write is one write of the writer: version Version of Key, issued at
// Start. Acked says the call returned without error at Ack (the write
// policy was met); an unacknowledged write may or may not have been
// applied anywhere. Done, when known, is when the last replica the write
// was sent to answered (or failed): the policy may return before.
type Write struct {
	Key     string
	Version uint64
	Op      Op
	Start   time.Time
	Ack     time.Time
	Acked   bool
	Done    time.Time
}

// Read is one read of a reader in Zone, begun at Start and returned at
// End. Found says it returned a value, of version Version (Bogus when the
// value was not one the writer could have written); Err is the error it
// returned to its caller, if any (a miss is not an error). Phase is the
// schedule phase the read began in.
type Read struct {
	Key     string
	Zone    string
	Phase   string
	Start   time.Time
	End     time.Time
	Found   bool
	Version uint64
	Bogus   bool
	Err     error
	// Node and NodeZone: the node that returned the value (NodeZone other
	// than Zone: a fallback to another zone).
	Node, NodeZone string
}

// History is the record of a run: every write issued and every read
// made. It is safe for concurrent use; writes of one key must be recorded
// by one writer at a time, in version order (the checker's writers own
// disjoint keys and write each key sequentially).
type History struct {
	mu     sync.Mutex
	writes map[string][]Write // by key, in version order
	reads  []Read
	errs   []CallerError
	marks  []mark
	// nodeEvents are the writes, repairs and read repairs seen at nodes.
	nodeEvents []NodeEvent
}

// mark is the beginning of a schedule phase.
type mark struct {
	phase string
	at    time.Time
}

// CallerError is an error a writer or reader call returned to its caller.
// PolicyNotMet marks a write whose policy was not met
// (replication.ErrPolicyNotMet), which a fault may make expected.
type CallerError struct {
	Who          string // "writer" or "reader <zone>"
	Phase        string
	At           time.Time
	Err          string
	PolicyNotMet bool
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{writes: map[string][]Write{}} }

// Issue records that a write began. Its version must be greater than every
// version issued before for the key.
func (h *History) Issue(w Write) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.Acked = false
	h.writes[w.Key] = append(h.writes[w.Key], w)
}

// Acknowledge records that write version of key returned successfully at
// at. It is ignored for a version never issued.
func (h *History) Acknowledge(key string, version uint64, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.writes[key]
	for i := len(ws) - 1; i >= 0; i-- {
		if ws[i].Version == version {
			ws[i].Acked, ws[i].Ack = true, at
			return
		}
	}
}

// Complete records that every replica had answered write version of key
// at at.
func (h *History) Complete(key string, version uint64, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.writes[key]
	for i := len(ws) - 1; i >= 0; i-- {
		if ws[i].Version == version {
			ws[i].Done = at
			return
		}
	}
}

// AddRead records a read; an empty Phase becomes the phase it began in.
func (h *History) AddRead(r Read) {
	h.mu.Lock()
	if r.Phase == "" {
		r.Phase = h.phaseAtLocked(r.Start)
	}
	h.reads = append(h.reads, r)
	h.mu.Unlock()
}

// AddError records an error returned to a caller; an empty Phase becomes
// the phase at e.At.
func (h *History) AddError(e CallerError) {
	h.mu.Lock()
	if e.Phase == "" {
		e.Phase = h.phaseAtLocked(e.At)
	}
	e.Err = strings.ReplaceAll(e.Err, "\n", " ")
	h.errs = append(h.errs, e)
	h.mu.Unlock()
}

// MarkPhase records that phase began at at; marks must come in time order.
func (h *History) MarkPhase(phase string, at time.Time) {
	h.mu.Lock()
	h.marks = append(h.marks, mark{phase, at})
	h.mu.Unlock()
}

// PhaseAt returns the phase under way at t ("start" before the first mark).
func (h *History) PhaseAt(t time.Time) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.phaseAtLocked(t)
}

func (h *History) phaseAtLocked(t time.Time) string {
	p := "start"
	for _, m := range h.marks {
		if m.at.After(t) {
			break
		}
		p = m.phase
	}
	return p
}

// Writes returns a copy of key's writes, in version order.
func (h *History) Writes(key string) []Write {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.writes[key])
}

// Keys returns every key written, sorted.
func (h *History) Keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.writes))
	for k := range h.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// LastIssued returns the highest version issued for key (0: none).
func (h *History) LastIssued(key string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.writes[key]
	if len(ws) == 0 {
		return 0
	}
	return ws[len(ws)-1].Version
}

// snapshot returns the writes by key, the reads and the errors.
func (h *History) snapshot() (map[string][]Write, []Read, []CallerError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := make(map[string][]Write, len(h.writes))
	for k, v := range h.writes {
		ws[k] = slices.Clone(v)
	}
	return ws, slices.Clone(h.reads), slices.Clone(h.errs)
}

// nodeEventsByKey returns the node events by key, in time order.
func (h *History) nodeEventsByKey() map[string][]NodeEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]NodeEvent{}
	for _, e := range h.nodeEvents {
		out[e.Key] = append(out[e.Key], e)
	}
	for _, es := range out {
		slices.SortStableFunc(es, func(a, b NodeEvent) int { return a.At.Compare(b.At) })
	}
	return out
}
