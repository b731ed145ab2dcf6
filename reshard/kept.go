package reshard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// keptSample is how many of the items copied to a node checkCopyKept
// reads back there, spread evenly over the copy's order (hottest first).
const keptSample = 32

// lostDestinations returns the nodes that hold fewer than three quarters
// of a sample of the items the copy gave them: they lost what they held
// since (a restart, a flush_all, a zonecached fence's invalidation). A
// client's delete or an eviction takes an item or two, not a quarter of
// a sample spread from the hottest to the coldest.
func (r *Reshard) lostDestinations(ctx context.Context) ([]string, error) {
	plan, err := r.copiedPlan()
	if err != nil || plan == nil {
		return nil, err
	}
	type dest struct {
		node replication.Node
		keys []string
	}
	var dests []*dest
	for _, m := range plan.Moves {
		i := slices.IndexFunc(dests, func(d *dest) bool { return d.node.ID == m.To.ID })
		if i < 0 {
			dests = append(dests, &dest{node: m.To})
			i = len(dests) - 1
		}
		for _, it := range m.Items {
			dests[i].keys = append(dests[i].keys, it.Key)
		}
	}
	var lost []string
	for _, d := range dests {
		sample := spread(d.keys, keptSample)
		if len(sample) == 0 {
			continue
		}
		nc := nodeclient.NewNode(d.node.Addr, r.cfg.Copy.Node)
		got, err := nc.Batch().GetMulti(ctx, sample)
		nc.Close()
		if err != nil {
			return nil, fmt.Errorf("reshard: read back copied items on %s (%s): %w", d.node.ID, d.node.Addr, err)
		}
		if 4*len(got) < 3*len(sample) {
			lost = append(lost, d.node.ID)
		}
	}
	return lost, nil
}

// spread returns up to n of keys, evenly spaced, the first included.
func spread(keys []string, n int) []string {
	if len(keys) <= n {
		return keys
	}
	out := make([]string, n)
	for i := range out {
		out[i] = keys[i*len(keys)/n]
	}
	return out
}

// checkCopyKept is run before reads move to the new owners: when a node
// that received copies lost them since (lostDestinations), the copy runs
// again, once, from a fresh plan: the previous owners still take every
// write and copies never overwrite (add), so this is safe until reads
// move.
func (r *Reshard) checkCopyKept(ctx context.Context, say func(string)) error {
	lost, err := r.lostDestinations(ctx)
	if err != nil || len(lost) == 0 {
		return err
	}
	if r.recopied {
		return fmt.Errorf("%w: %v lost the items copied to them again (a restart, a flush or an invalidation): check them, then run again (--resume)", ErrIncomplete, lost)
	}
	r.recopied = true
	say(fmt.Sprintf("%v lost the items copied to them (a restart, a flush or an invalidation): copying again before reads move", lost))
	if r.cfg.Checkpoint != "" {
		for _, p := range []string{copyPath(r.cfg.Checkpoint), planPath(copyPath(r.cfg.Checkpoint))} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("reshard: remove the copy's checkpoint: %w", err)
			}
		}
	}
	r.preview, r.copied = nil, nil
	if err := r.done(StepIntermediate); err != nil {
		return err
	}
	if _, _, err := r.Copy(ctx); err != nil {
		return err
	}
	return r.checkCopyKept(ctx, say)
}
