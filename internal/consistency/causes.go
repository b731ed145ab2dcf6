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

// staleCause is the cause of stale read r of version r.Version, given the
// first acknowledged write above it, the last acknowledged before the read
// and the key's node events. Writes issued after the read began (versions
// above last) do not count.
func staleCause(r Read, next, last Write, events []NodeEvent) (cause, detail string) {
	if r.Node == "" {
		return CauseUnknownNode, ""
	}
	var lastRR, newer, applied *NodeEvent
	sent, unanswered, repairedAfter := false, false, false
	for i := range events {
		e := &events[i]
		if e.Node != r.Node {
			continue
		}
		switch {
		case e.Op == "repair" && e.OK && !e.At.Before(r.Start):
			repairedAfter = true
			continue
		case e.Op == "read_repair":
			if e.OK && e.At.After(next.Start) && e.At.Before(r.End) {
				lastRR = e
			}
		case e.Op == "repair" && e.At.After(next.Start) || e.Op != "repair" && e.Version >= next.Version && e.Version <= last.Version:
			sent = sent || e.Op != "repair"
			if !e.At.Before(r.Start) {
				unanswered = unanswered || e.Op != "repair"
				continue
			}
			if e.OK {
				newer = e
			}
		}
		if e.OK && e.Op == "delete" && e.Version >= next.Version && applied == nil {
			applied = e
		}
	}
	switch {
	case lastRR != nil && (newer == nil || newer.At.Before(lastRR.At)):
		d := fmt.Sprintf("%s's read repair stored it at %s %s after v%d was issued", lastRR.Who, r.Node, ms(lastRR.At.Sub(next.Start)), next.Version)
		if applied != nil && applied.At.Before(lastRR.At) {
			d += fmt.Sprintf(", %s after %s had applied delete v%d", ms(lastRR.At.Sub(applied.At)), r.Node, applied.Version)
		}
		return CauseReadRepair, d
	case newer != nil:
		what := fmt.Sprintf("%s v%d", newer.Op, newer.Version)
		if newer.Op == "repair" {
			what = "the writer's repair"
		}
		return CauseAppliedNewer, fmt.Sprintf("%s answered %s %s before the read", r.Node, what, ms(r.Start.Sub(newer.At)))
	case unanswered:
		return CauseNodeInFlight, ""
	case sent && repairedAfter:
		return CauseNodeFailedRepaired, ""
	case sent:
		return CauseNodeFailed, ""
	}
	return CauseNoAnswer, ""
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

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
