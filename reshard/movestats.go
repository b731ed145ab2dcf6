package reshard

import (
	"sync/atomic"

	"github.com/zonecache/zonecache/warm"
)

// MoveStats is the progress of one move of a copy, for a display: what
// went from one node to another, and what is left.
type MoveStats struct {
	// Zone is the move's zone; From and To are its nodes' ids.
	Zone, From, To string
	// Copied is the number of items added to To in this run; Bytes their
	// sizes in the plan.
	Copied, Bytes int64
	// Gone, Present and Failed count this move's items as CopyStats does.
	Gone, Present, Failed int64
	// Left is the number of items not yet tried (in this run or, for
	// Resume, an earlier one); LeftBytes their sizes in the plan.
	Left, LeftBytes int64
}

// moveCounters counts one move's items as a copy goes.
type moveCounters struct {
	copied, bytes, gone, present, failed, left, leftBytes atomic.Int64
}

// newMoveCounters starts the counters of plan's moves with every item
// from done[i] on left.
func newMoveCounters(plan *Plan, done []int) []moveCounters {
	mc := make([]moveCounters, len(plan.Moves))
	for i, m := range plan.Moves {
		for _, it := range m.Items[done[i]:] {
			mc[i].left.Add(1)
			mc[i].leftBytes.Add(it.Size)
		}
	}
	return mc
}

// count counts one item of size bytes tried with result res.
func (m *moveCounters) count(res warm.CopyResult, size int64) {
	m.left.Add(-1)
	m.leftBytes.Add(-size)
	switch res {
	case warm.Copied:
		m.copied.Add(1)
		m.bytes.Add(size)
	case warm.Gone:
		m.gone.Add(1)
	case warm.Present:
		m.present.Add(1)
	default:
		m.failed.Add(1)
	}
}

// moveStats returns the progress of every move, in the plan's order.
func (c *copier) moveStats() []MoveStats {
	out := make([]MoveStats, len(c.moves))
	for i, m := range c.plan.Moves {
		mc := &c.moves[i]
		out[i] = MoveStats{Zone: m.Zone, From: m.From.ID, To: m.To.ID,
			Copied: mc.copied.Load(), Bytes: mc.bytes.Load(), Gone: mc.gone.Load(), Present: mc.present.Load(),
			Failed: mc.failed.Load(), Left: mc.left.Load(), LeftBytes: mc.leftBytes.Load()}
	}
	return out
}
