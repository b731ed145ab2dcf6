package consistency

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The causes Check gives a stale read, from the node events (NodeEvent)
// of its key at the node that answered it.
const (
	// CauseReadRepair: a reader's read repair stored a value at the node
	// after the newer write was issued (an Add that landed once the key
	// was gone there: after a delete, or on a node restarted empty).
	CauseReadRepair = "read repair stored it after the newer write was issued"
	// CauseAppliedNewer: the node had answered a newer write (or the
	// writer's repair) before the read began, and no read repair stored
	// anything there since: an older write overtook it, or the node lost
	// it.
	CauseAppliedNewer = "the node had applied a newer write before the read"
	// CauseNodeInFlight: the newer write to the node was still unanswered
	// when the read began (its reply came later).
	CauseNodeInFlight = "the newer write to the node was still in flight"
	// CauseNodeFailed: every newer write to the node had failed (a repair
	// was due there) when the read began; CauseNodeFailedRepaired: and
	// the writer's repair of the key there succeeded later (the read fell
	// in the window until the repair).
	CauseNodeFailed         = "the newer writes to the node had failed, no repair of it seen after"
	CauseNodeFailedRepaired = "the newer writes to the node had failed, its repair succeeded after the read"
	// CauseNoAnswer: no answer of the node to the newer writes was seen:
	// the writer did not send them there (not in its topology then), or its
	// process died before the node answered.
	CauseNoAnswer = "no answer of the node to the newer writes (not sent there, or the writer died first)"
	// CauseUnknownNode: the reader's hook did not see which node answered.
	CauseUnknownNode = "unknown node"
)

// nodeFacts is what the events of a stale read's key at the node that
// answered it say.
type nodeFacts struct {
	// readRepair is the last read repair that stored a value there after
	// the newer write was issued and was answered before the read returned
	// (one answered later may have landed before the read too: its hook
	// runs once the Add's reply is read; the sample's trace shows it).
	readRepair *NodeEvent
	// newer is the last newer write (or repair) the node applied before
	// the read began; deleted the last newer delete it applied before
	// the read repair.
	newer, deleted *NodeEvent
	// sent: a newer write went to the node; unanswered: one was answered
	// only after the read began; repairedAfter: a repair of the key
	// succeeded there after the read began.
	sent, unanswered, repairedAfter bool
}

// factsAt gathers the node facts of stale read r. Writes issued after the
// read began (versions above last) do not count.
func factsAt(r Read, next, last Write, events []NodeEvent) nodeFacts {
	var f nodeFacts
	for i := range events {
		e := &events[i]
		switch {
		case e.Node != r.Node:
		case e.Op == "repair" && e.OK && !e.At.Before(r.Start):
			f.repairedAfter = true
		case e.Op == "read_repair":
			if e.OK && e.At.After(next.Start) && e.At.Before(r.End) {
				f.readRepair = e
			}
		case e.Op == "repair" && e.At.After(next.Start):
			if e.OK {
				f.newer = e
			}
		case e.Version >= next.Version && e.Version <= last.Version:
			f.sent = true
			if !e.At.Before(r.Start) {
				f.unanswered = true
				continue
			}
			if e.OK {
				f.newer = e
			}
			if e.OK && (e.Op == "delete" || e.Op == opFormerDelete) && (f.readRepair == nil || e.At.Before(f.readRepair.At)) {
				f.deleted = e
			}
		}
	}
	return f
}

// staleCause is the cause of stale read r of version r.Version, given the
// first acknowledged write above it, the last acknowledged before the read
// and the key's node events, with a detail for the report.
func staleCause(r Read, next, last Write, events []NodeEvent) (cause, detail string) {
	if r.Node == "" {
		return CauseUnknownNode, ""
	}
	f := factsAt(r, next, last, events)
	switch {
	case f.readRepair != nil && (f.newer == nil || f.newer.At.Before(f.readRepair.At.Add(raceSlack))):
		rr := f.readRepair
		d := fmt.Sprintf("%s's read repair stored it at %s %s after v%d was issued", rr.Who, r.Node, ms(rr.At.Sub(next.Start)), next.Version)
		switch {
		case f.deleted != nil && f.deleted.At.Before(rr.At):
			d += fmt.Sprintf(", %s after %s had applied delete v%d", ms(rr.At.Sub(f.deleted.At)), r.Node, f.deleted.Version)
		case f.newer != nil && !f.newer.At.Before(rr.At):
			d += fmt.Sprintf(", answered %s before %s %s v%d: the two raced", ms(f.newer.At.Sub(rr.At)), r.Node, f.newer.Op, f.newer.Version)
		}
		return CauseReadRepair, d
	case f.newer != nil:
		what := fmt.Sprintf("%s v%d", f.newer.Op, f.newer.Version)
		if f.newer.Op == "repair" {
			what = "the writer's repair"
		}
		return CauseAppliedNewer, fmt.Sprintf("%s answered %s %s before the read", r.Node, what, ms(r.Start.Sub(f.newer.At)))
	case f.unanswered:
		return CauseNodeInFlight, ""
	case f.sent && f.repairedAfter:
		return CauseNodeFailedRepaired, ""
	case f.sent:
		return CauseNodeFailed, ""
	}
	return CauseNoAnswer, ""
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// raceSlack: a read repair answered less than this before a newer write
// at the same node may still have landed after it (each client reads its
// reply on its own schedule), so it counts as the cause when the node then
// serves the older value.
const raceSlack = 5 * time.Millisecond

// traceSlack is how long after a read returned the node events of its
// sample still show: a hook runs after its request's reply was read, so
// an event may be seen a little after it took effect at the node.
const traceSlack = 100 * time.Millisecond

// nodeTrace lists, for a sample, the events of r's key at the node that
// answered it from the newer write's issue until traceSlack after the
// read returned, in time relative to the read's start (the last 8).
func nodeTrace(r Read, next Write, events []NodeEvent) string {
	var parts []string
	for _, e := range events {
		if e.Node != r.Node || e.At.Before(next.Start) || e.At.After(r.End.Add(traceSlack)) {
			continue
		}
		what := e.Op
		if e.Version > 0 {
			what += fmt.Sprintf(" v%d", e.Version)
		}
		ok := "ok"
		if !e.OK {
			ok = "failed"
			if e.Fail != "" {
				ok += " (" + e.Fail + ")"
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s %s %+.1fms", e.Who, what, ok, float64(e.At.Sub(r.Start))/float64(time.Millisecond)))
	}
	if len(parts) == 0 {
		return ""
	}
	if len(parts) > 8 {
		parts = append([]string{"..."}, parts[len(parts)-8:]...)
	}
	return "; at " + r.Node + ": " + strings.Join(parts, ", ")
}

// describeStale is one line about a stale read, for the report's samples.
func describeStale(r Read, next, last Write, cause, detail string) string {
	from := r.Node
	switch {
	case from == "":
		from = "an unknown node"
	case r.NodeZone != r.Zone:
		from += " (fallback)"
	}
	s := fmt.Sprintf("%s: reader %s got %s v%d from %s; v%d (%s) acknowledged %s before the read, last acknowledged v%d (%s): %s",
		r.Phase, r.Zone, r.Key, r.Version, from, next.Version, next.Op, ms(r.Start.Sub(next.Ack)), last.Version, last.Op, cause)
	if detail != "" {
		s += " (" + detail + ")"
	}
	return s
}

// causeCounts lists "cause=n" sorted by count, then name.
func causeCounts(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return out
}
