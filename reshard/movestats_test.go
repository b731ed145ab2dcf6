package reshard

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// TestMoveProgressAddsUpToTheCopy replaces a-2 by a-3 on a stock memcached
// fleet, cancels the copy partway and resumes it: each time the last
// MoveProgress call's moves add up to the run's CopyStats, and each move's
// items are either tried or left (none left once resumed to the end).
func TestMoveProgressAddsUpToTheCopy(t *testing.T) {
	ctx := context.Background()
	cur, spare := memcachedFleet(t, "a-3")
	fill(t, cur, 1000)
	tgt, err := Change{Add: []replication.Node{spare["a-3"]}, Remove: []string{"a-2"}}.Apply(cur)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(ctx, Config{Current: cur, Target: tgt})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var last []MoveStats
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := CopyConfig{Rate: 500, Checkpoint: filepath.Join(t.TempDir(), "cp"), CheckpointEvery: 20 * time.Millisecond,
		MoveProgress: func(ms []MoveStats) {
			mu.Lock()
			defer mu.Unlock()
			if last = ms; sum(ms, func(m MoveStats) int64 { return m.Copied }) >= 50 {
				cancel()
			}
		}}
	first, err := Copy(cctx, plan, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v %v, want cancelled", first, err)
	}
	left := checkMoves(t, plan, last, first)
	if left == 0 || sum(last, func(m MoveStats) int64 { return m.LeftBytes }) <= 0 {
		t.Fatalf("cancelled run left nothing: %+v", last)
	}
	for i, m := range last {
		if tried := m.Copied + m.Gone + m.Present + m.Failed; tried+m.Left != int64(len(plan.Moves[i].Items)) {
			t.Fatalf("move %d: %d tried and %d left of %d items", i, tried, m.Left, len(plan.Moves[i].Items))
		}
	}
	_, second, err := Resume(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if left := checkMoves(t, plan, last, second); left != 0 {
		t.Fatalf("%d items left after the resumed run: %+v", left, last)
	}
}

// checkMoves checks that the moves ms of plan add up to st and returns the
// items left.
func checkMoves(t *testing.T, plan *Plan, ms []MoveStats, st CopyStats) (left int64) {
	t.Helper()
	if len(ms) != len(plan.Moves) {
		t.Fatalf("%d moves in the progress, %d in the plan", len(ms), len(plan.Moves))
	}
	for i, m := range ms {
		pm := plan.Moves[i]
		if m.Zone != pm.Zone || m.From != pm.From.ID || m.To != pm.To.ID || m.Left < 0 || m.Left > int64(len(pm.Items)) {
			t.Fatalf("move %d: %+v, plan %s %s>%s of %d items", i, m, pm.Zone, pm.From.ID, pm.To.ID, len(pm.Items))
		}
	}
	got := CopyStats{Copied: sum(ms, func(m MoveStats) int64 { return m.Copied }), Bytes: sum(ms, func(m MoveStats) int64 { return m.Bytes }),
		Gone: sum(ms, func(m MoveStats) int64 { return m.Gone }), Present: sum(ms, func(m MoveStats) int64 { return m.Present }),
		Failed: sum(ms, func(m MoveStats) int64 { return m.Failed }), Deleted: st.Deleted}
	if got != st || st.Copied == 0 {
		t.Fatalf("moves add up to %v, the run's stats are %v", got, st)
	}
	return sum(ms, func(m MoveStats) int64 { return m.Left })
}

func sum(ms []MoveStats, f func(MoveStats) int64) (n int64) {
	for _, m := range ms {
		n += f(m)
	}
	return n
}
