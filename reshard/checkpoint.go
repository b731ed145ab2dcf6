package reshard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// ErrCheckpoint is wrapped by Resume's error when the checkpoint or its
// plan cannot be read or do not match.
var ErrCheckpoint = errors.New("reshard: bad checkpoint")

// checkpointFile is the checkpoint: per move, how many of its items, in
// the plan's order, are done. The plan itself is in the file named Plan.
type checkpointFile struct {
	Plan        string           `json:"plan"`
	TargetEpoch uint64           `json:"target_epoch"`
	StaleDone   bool             `json:"stale_done"`
	Moves       []checkpointMove `json:"moves"`
}

type checkpointMove struct {
	Zone  string `json:"zone"`
	From  string `json:"from"`
	To    string `json:"to"`
	Items int    `json:"items"`
	Done  int    `json:"done"`
}

// Resume reads the checkpoint at cfg.Checkpoint and the plan next to it,
// written by an interrupted Copy with the same Checkpoint, and copies the
// items not done, as Copy does. Items done in the interrupted run but
// after its last checkpoint are added again and counted Present. It
// returns the plan, for reporting.
func Resume(ctx context.Context, cfg CopyConfig) (*Plan, CopyStats, error) {
	plan, cp, err := readCheckpoint(cfg.Checkpoint)
	if err != nil {
		return nil, CopyStats{}, err
	}
	done := make([]int, len(cp.Moves))
	for i, m := range cp.Moves {
		done[i] = m.Done
	}
	st, err := run(ctx, plan, done, cp.StaleDone, cfg)
	return plan, st, err
}

// readCheckpoint reads the checkpoint at path and its plan, and checks
// that they match.
func readCheckpoint(path string) (*Plan, *checkpointFile, error) {
	var cp checkpointFile
	if err := readJSON(path, &cp); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var plan Plan
	if err := readJSON(filepath.Join(filepath.Dir(path), cp.Plan), &plan); err != nil {
		return nil, nil, fmt.Errorf("%w: plan: %w", ErrCheckpoint, err)
	}
	if len(cp.Moves) != len(plan.Moves) || cp.TargetEpoch != plan.Target.Epoch {
		return nil, nil, fmt.Errorf("%w: %s does not match its plan", ErrCheckpoint, path)
	}
	for i, m := range cp.Moves {
		pm := plan.Moves[i]
		if m.Zone != pm.Zone || m.From != pm.From.ID || m.To != pm.To.ID || m.Items != len(pm.Items) || m.Done < 0 || m.Done > m.Items {
			return nil, nil, fmt.Errorf("%w: move %d (%s %s>%s) does not match its plan", ErrCheckpoint, i, m.Zone, m.From, m.To)
		}
	}
	return &plan, &cp, nil
}

// planPath is where Copy writes the plan of the checkpoint at path.
func planPath(path string) string { return path + ".plan" }

// progress tracks, per move, the items done: all those before next, and
// the ones after it that finished first (the copy runs several at once).
type progress struct {
	mu        sync.Mutex
	next      []int
	ahead     []map[int]bool
	staleDone bool
}

func newProgress(plan *Plan, done []int, staleDone bool) *progress {
	p := &progress{next: append([]int(nil), done...), ahead: make([]map[int]bool, len(plan.Moves)), staleDone: staleDone}
	for i := range p.ahead {
		p.ahead[i] = map[int]bool{}
	}
	return p
}

// done marks item r done.
func (p *progress) done(r ref) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.item != p.next[r.move] {
		p.ahead[r.move][r.item] = true
		return
	}
	p.next[r.move]++
	for p.ahead[r.move][p.next[r.move]] {
		delete(p.ahead[r.move], p.next[r.move])
		p.next[r.move]++
	}
}

// staleDeleted marks the plan's stale keys deleted.
func (p *progress) staleDeleted() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.staleDone = true
}

// checkpoint returns the checkpoint of plan as of now, for the file at path.
func (p *progress) checkpoint(plan *Plan, path string) checkpointFile {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp := checkpointFile{Plan: filepath.Base(planPath(path)), TargetEpoch: plan.Target.Epoch, StaleDone: p.staleDone}
	for i, m := range plan.Moves {
		cp.Moves = append(cp.Moves, checkpointMove{Zone: m.Zone, From: m.From.ID, To: m.To.ID, Items: len(m.Items), Done: p.next[i]})
	}
	return cp
}

// writeJSON writes v to path atomically: a reader sees the old file or the
// new one, never part of one.
func writeJSON(path string, v any) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = json.NewEncoder(f).Encode(v)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
