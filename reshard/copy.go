package reshard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/warm"
)

// Defaults applied to zero fields of CopyConfig.
const (
	DefaultConcurrency     = 16
	DefaultCheckpointEvery = time.Second
)

// ErrStaleLeft is wrapped by Copy's and Resume's error when a stale key
// could not be deleted; nothing was copied, and Resume tries again.
var ErrStaleLeft = errors.New("stale keys left")

// CopyConfig describes how a plan's items are copied. Zero fields take the
// documented defaults.
type CopyConfig struct {
	// Rate, when > 0, limits the items copied per second, all moves
	// together; 0 means no limit.
	Rate float64
	// BytesRate, when > 0, limits the bytes copied per second (the items'
	// sizes in the plan); 0 means no limit.
	BytesRate float64
	// Concurrency bounds the items being copied at once (default 16).
	Concurrency int
	// Checkpoint, when set, is the path of the checkpoint file: which
	// items of which move are done, rewritten every CheckpointEvery and
	// when the copy returns, and read by Resume. The plan is written once
	// next to it, at Checkpoint + ".plan".
	Checkpoint string
	// CheckpointEvery is the interval between checkpoint writes and
	// Progress calls (default 1 s).
	CheckpointEvery time.Duration
	// Progress, when set, is called with the stats so far every
	// CheckpointEvery and once more when the copy returns (for a progress
	// display or metrics); calls do not overlap.
	Progress func(CopyStats)
	// MoveProgress, when set, is called with the progress of each move,
	// in the plan's order, right after each Progress call (for a display
	// per pair of nodes, its rate and ETA); the slice is the callee's.
	MoveProgress func([]MoveStats)
	// Node configures the connections to the nodes; only their Batch
	// pools are used, so online traffic keeps its own. Zero: defaults.
	Node nodeclient.Config
}

// CopyStats counts what a copy did. Items not counted were not reached
// (the copy was interrupted) and are copied by Resume.
type CopyStats struct {
	// Copied is the number of items added to their destination; Bytes
	// their sizes in the plan.
	Copied, Bytes int64
	// Gone counts items expired or deleted on their source since the plan,
	// and copies undone because the key left or changed meanwhile.
	Gone int64
	// Present counts items their destination already held (add refused):
	// written there by live traffic, newer than the copy, or copied by an
	// earlier, interrupted run.
	Present int64
	// Failed counts items that could not be read or written; Resume tries
	// them again.
	Failed int64
	// Deleted counts the plan's stale keys deleted before the copy.
	Deleted int64
}

// String formats the stats on one line.
func (s CopyStats) String() string {
	return fmt.Sprintf("copied=%d bytes=%d gone=%d present=%d failed=%d deleted=%d", s.Copied, s.Bytes, s.Gone, s.Present, s.Failed, s.Deleted)
}

// Copy deletes the plan's stale keys, then copies the items of plan's
// moves to their destinations, hottest first across all moves, with add (a
// value already on a destination is newer and is kept) and each item's
// remaining TTL. Run it once the
// destinations receive the live writes of the keys they take (new nodes
// warming, leaving nodes draining), so that no write made during the copy
// is missing after the cutover. It returns when every item is done or ctx
// ends, with the stats and ctx's error, or the checkpoint's.
func Copy(ctx context.Context, plan *Plan, cfg CopyConfig) (CopyStats, error) {
	if cfg.Checkpoint != "" {
		if err := writeJSON(planPath(cfg.Checkpoint), plan); err != nil {
			return CopyStats{}, fmt.Errorf("reshard: checkpoint: %w", err)
		}
	}
	return run(ctx, plan, make([]int, len(plan.Moves)), false, cfg)
}

// ref is one item of one move.
type ref struct{ move, item int }

// copier is one run of a copy.
type copier struct {
	plan     *Plan
	cfg      CopyConfig
	mu       sync.Mutex
	nodes    map[string]*nodeclient.Node
	progress *progress
	moves    []moveCounters
	keys     *rate.Limiter // nil: no limit
	bytes    *rate.Limiter
	st       struct{ copied, bytes, gone, present, failed, deleted atomic.Int64 }
}

// run copies the items of plan not done: per move, those from done[i]
// on, after deleting the stale keys unless staleDone.
func run(ctx context.Context, plan *Plan, done []int, staleDone bool, cfg CopyConfig) (CopyStats, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	c := &copier{plan: plan, cfg: cfg, nodes: map[string]*nodeclient.Node{}, progress: newProgress(plan, done, staleDone),
		moves: newMoveCounters(plan, done)}
	if cfg.Rate > 0 {
		c.keys = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/10)))
	}
	if cfg.BytesRate > 0 {
		c.bytes = rate.NewLimiter(rate.Limit(cfg.BytesRate), max(1<<20, int(cfg.BytesRate/10)))
	}
	defer c.closeNodes()
	stop := c.saveEvery(cfg.CheckpointEvery)
	var err error
	if !staleDone {
		err = c.deleteStale(ctx)
	}
	if err == nil {
		err = c.copyAll(ctx, c.todo(done))
	}
	return c.stats(), errors.Join(err, stop())
}

// node returns the connections to addr, made on first use.
func (c *copier) node(addr string) *nodeclient.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[addr] == nil {
		c.nodes[addr] = nodeclient.NewNode(addr, c.cfg.Node)
	}
	return c.nodes[addr]
}

func (c *copier) closeNodes() {
	for _, n := range c.nodes {
		n.Close()
	}
}

// deleteStale deletes the plan's stale keys and, once all are gone, marks
// them done in the checkpoint. When one fails to delete, nothing is copied
// (add would keep its value) and the error says so: a rerun deletes them
// all again, harmless while nothing is copied.
func (c *copier) deleteStale(ctx context.Context) error {
	var failed atomic.Int64
	for _, st := range c.plan.Stale {
		pool := c.node(st.Node.Addr).Batch()
		err := c.limited(ctx, len(st.Keys), func(int) int64 { return 0 }, func(i int) {
			switch err := pool.Delete(ctx, st.Keys[i]); {
			case err == nil, errors.Is(err, nodeclient.ErrNotFound):
				c.st.deleted.Add(1)
			default:
				failed.Add(1)
			}
		})
		if err != nil {
			return err
		}
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("reshard: %d stale keys could not be deleted, so nothing was copied: %w", n, ErrStaleLeft)
	}
	c.progress.staleDeleted()
	return nil
}

// todo returns the items not done, hottest first across the moves.
func (c *copier) todo(done []int) []ref {
	var refs []ref
	for i, m := range c.plan.Moves {
		for j := done[i]; j < len(m.Items); j++ {
			refs = append(refs, ref{i, j})
		}
	}
	slices.SortStableFunc(refs, func(a, b ref) int {
		return cmp.Compare(c.item(b).LastAccess, c.item(a).LastAccess)
	})
	return refs
}

func (c *copier) item(r ref) warm.Item { return c.plan.Moves[r.move].Items[r.item] }

// copyAll copies refs within the limits.
func (c *copier) copyAll(ctx context.Context, refs []ref) error {
	return c.limited(ctx, len(refs), func(i int) int64 { return c.item(refs[i]).Size },
		func(i int) { c.copyOne(ctx, refs[i]) })
}

// limited runs fn(0), ..., fn(n-1) in order, at most cfg.Concurrency at
// once, each once the rate limits admit an item of size(i) bytes, and
// returns when every fn started is done: nil when all ran, else ctx's
// error (DeadlineExceeded too when the limits would pass ctx's deadline).
func (c *copier) limited(ctx context.Context, n int, size func(int) int64, fn func(int)) error {
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range n {
		if err := c.wait(ctx, size(i)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	return nil
}

// wait blocks until the rate limits admit one item of size bytes.
func (c *copier) wait(ctx context.Context, size int64) error {
	if c.keys != nil {
		if err := c.keys.Wait(ctx); err != nil {
			return err
		}
	}
	if c.bytes != nil && size > 0 {
		return c.bytes.WaitN(ctx, int(min(size, int64(c.bytes.Burst()))))
	}
	return ctx.Err()
}

// copyOne copies one item, checked (warm.CopyChecked: a copy that a
// client's delete made meanwhile would outlive is undone), and, unless it
// failed or ctx ended first, marks it done.
func (c *copier) copyOne(ctx context.Context, r ref) {
	m, it := c.plan.Moves[r.move], c.item(r)
	res, _ := warm.CopyChecked(ctx, c.node(m.From.Addr).Batch(), c.node(m.To.Addr).Batch(), it)
	if res == warm.Failed && ctx.Err() != nil {
		return // interrupted: copied again on resume
	}
	c.moves[r.move].count(res, it.Size)
	switch res {
	case warm.Failed:
		c.st.failed.Add(1)
		return
	case warm.Copied:
		c.st.copied.Add(1)
		c.st.bytes.Add(it.Size)
	case warm.Gone:
		c.st.gone.Add(1)
	case warm.Present:
		c.st.present.Add(1)
	}
	c.progress.done(r)
}

func (c *copier) stats() CopyStats {
	return CopyStats{Copied: c.st.copied.Load(), Bytes: c.st.bytes.Load(), Gone: c.st.gone.Load(),
		Present: c.st.present.Load(), Failed: c.st.failed.Load(), Deleted: c.st.deleted.Load()}
}

// saveEvery writes the checkpoint and reports progress every interval
// until the returned stop is called; stop does both a last time and
// returns the first error.
func (c *copier) saveEvery(interval time.Duration) (stop func() error) {
	quit, exited := make(chan struct{}), make(chan error, 1)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		var first error
		for {
			select {
			case <-t.C:
				if err := c.save(); first == nil {
					first = err
				}
			case <-quit:
				exited <- errors.Join(first, c.save())
				return
			}
		}
	}()
	return func() error {
		close(quit)
		if err := <-exited; err != nil {
			return fmt.Errorf("reshard: checkpoint: %w", err)
		}
		return nil
	}
}

// save writes the checkpoint, if any, and reports progress.
func (c *copier) save() error {
	if c.cfg.Progress != nil {
		c.cfg.Progress(c.stats())
	}
	if c.cfg.MoveProgress != nil {
		c.cfg.MoveProgress(c.moveStats())
	}
	if c.cfg.Checkpoint == "" {
		return nil
	}
	return writeJSON(c.cfg.Checkpoint, c.progress.checkpoint(c.plan, c.cfg.Checkpoint))
}
