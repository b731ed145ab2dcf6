package consistency

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/internal/fleetreshard"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
)

// The reshard-kill fault grows zone a by a node, reshard.Reshard carrying
// it out as an operator's tooling would, and kills the new node (SIGKILL)
// while the copy to it runs. At the heal the node is restarted empty,
// warming, on its address, and the reshard is continued from its
// checkpoint (reshard.Open) to its end: the copy resumed, the check for
// copies the new node lost (copied again when a sample is missing), the
// switch, the cutover, the clean-up. Writes and reads go
// on throughout, so the check covers the copy's adds racing live writes to
// a node that lost everything, and the new node serving after the
// cutover.

// reshardCopyRate is the fault's copy rate in keys a second: slow enough
// that the copy of the few keys the new node takes over (about a third of
// the workload's) lasts a few seconds, and the kill lands in its middle.
const reshardCopyRate = 8

// reshardKillAfter is how many items the copy must have dealt with
// (copied, or found present) before the kill.
const reshardKillAfter = 3

// reshardFault is the reshard-kill fault's reshard, from the injection to
// the heal.
type reshardFault struct {
	dir string // holds the checkpoint
	cfg reshard.RunConfig

	mu    sync.Mutex
	stats reshard.CopyStats // the copy's last progress
}

func (f *reshardFault) progress(st reshard.CopyStats) {
	f.mu.Lock()
	f.stats = st
	f.mu.Unlock()
}

func (f *reshardFault) lastStats() reshard.CopyStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func injectReshardKill(ctx context.Context, r *run) error {
	n, err := r.env.fleet.Add(ctx, "a", joiner, "--state", string(replication.Warming))
	if err != nil {
		return fmt.Errorf("start %s: %w", joiner, err)
	}
	warming := hasState(joiner, replication.Warming)
	took, err := r.env.waitClients(ctx, 30*time.Second, warming)
	if err != nil {
		return fmt.Errorf("%s: %v: %w", joiner, err, ErrFaultNotInjected)
	}
	r.evidence("%s started warming in zone a (%s); every client of the run lists it warming after %.1fs", joiner, n.Addr, took.Seconds())

	dir, err := os.MkdirTemp("", "zonecache-consistency-reshard-")
	if err != nil {
		return err
	}
	f := &reshardFault{dir: dir}
	r.reshard = f
	live := r.writer.Topology()
	node, _ := live.Node(joiner)
	f.cfg = reshard.RunConfig{
		// A change counts once every client of the run uses it, which an
		// operator, who does not know every client, waits ViewLag for.
		Fleet: fleetreshard.Waiting{GossipFleet: fleetreshard.GossipFleet(r.env.fleet, 15*time.Second),
			Wait: func(ctx context.Context, t replication.Topology) error {
				_, err := r.env.waitClients(ctx, 30*time.Second, func(v replication.Topology) bool { return reshard.SameNodes(v, t) })
				return err
			}},
		Change:     reshard.Change{Add: []replication.Node{node}},
		Checkpoint: filepath.Join(dir, "reshard.json"),
		Copy: reshard.CopyConfig{Rate: reshardCopyRate, Concurrency: 1,
			CheckpointEvery: 50 * time.Millisecond, Progress: f.progress},
		ViewLag: -1, // the Fleet's Wait waits for every client of the run instead
	}
	rs, err := reshard.New(f.cfg)
	if err != nil {
		return err
	}
	plan, err := rs.Plan(ctx)
	if err != nil {
		return fmt.Errorf("reshard plan: %w", err)
	}
	if err := rs.Intermediate(ctx); err != nil {
		return fmt.Errorf("reshard intermediate: %w", err)
	}
	r.evidence("reshard planned (%d keys move to %s) and its intermediate topology in every client; the copy begins at %d keys/s", plan.Keys(), joiner, reshardCopyRate)

	killAfter := min(reshardKillAfter, plan.Keys()-1)
	if killAfter < 1 {
		return fmt.Errorf("the plan moves %d keys, too few to kill %s in the middle of their copy: %w", plan.Keys(), joiner, ErrFaultNotInjected)
	}
	type copied struct {
		st  reshard.CopyStats
		err error
	}
	done := make(chan copied, 1)
	copyCtx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the copy when the fault could not be injected
	go func() {
		_, st, err := rs.Copy(copyCtx)
		done <- copied{st, err}
	}()
	reached := func() bool { st := f.lastStats(); return st.Copied+st.Present >= int64(killAfter) }
	if _, err := pollUntil(ctx, 30*time.Second, reached); err != nil {
		return fmt.Errorf("the copy did not reach %d items: %v: %w", killAfter, err, ErrFaultNotInjected)
	}
	pid := n.Pid()
	n.Kill()
	if n.Running() || !dialFails(n.Addr, time.Second) {
		return fmt.Errorf("%s (pid %d) still answers after SIGKILL: %w", joiner, pid, ErrFaultNotInjected)
	}
	r.evidence("%s (pid %d) killed with SIGKILL mid-copy, after %v", joiner, pid, f.lastStats())
	res := <-done
	if res.err == nil {
		return fmt.Errorf("the copy to %s succeeded although it was killed: %w", joiner, ErrFaultNotInjected)
	}
	r.evidence("the copy stopped: %v (%v)", res.err, res.st)
	return backoff.Sleep(ctx, r.cfg.Duration)
}

func healReshardKill(ctx context.Context, r *run) error {
	f := r.reshard
	n := r.env.node(joiner)
	if err := r.env.fleet.Restart(ctx, n); err != nil {
		return fmt.Errorf("restart %s: %w", joiner, err)
	}
	took, err := r.env.waitClients(ctx, 30*time.Second, hasState(joiner, replication.Warming))
	if err != nil {
		return fmt.Errorf("%s restarted but not warming in every client: %w", joiner, err)
	}
	r.evidence("%s restarted empty, warming, on %s (pid %d); every client lists it after %.1fs", joiner, n.Addr, n.Pid(), took.Seconds())
	var says []string
	var mu sync.Mutex
	cfg := f.cfg
	cfg.Say = func(step reshard.Step, msg string) {
		mu.Lock()
		says = append(says, fmt.Sprintf("%v: %s", step, msg))
		mu.Unlock()
	}
	rs, err := reshard.Open(cfg)
	if err != nil {
		return fmt.Errorf("reshard open: %w", err)
	}
	from := rs.Done()
	err = rs.Run(ctx)
	mu.Lock()
	for _, s := range says {
		r.evidence("reshard: %s", s)
	}
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("reshard resumed after %v: %w", from, err)
	}
	took, err = r.env.waitClients(ctx, 30*time.Second, hasNode(joiner))
	if err != nil {
		return fmt.Errorf("%s not serving in every client after the reshard: %w", joiner, err)
	}
	r.evidence("reshard resumed from its checkpoint after %v and done; %s serving in every client after %.1fs", from, joiner, took.Seconds())
	return nil
}

// hasState says whether a topology lists node id in state st.
func hasState(id string, st replication.NodeState) func(replication.Topology) bool {
	return func(t replication.Topology) bool {
		n, ok := t.Node(id)
		return ok && n.EffectiveState() == st
	}
}

// waitClients polls the topology of every client made so far until ok
// holds for all of them or within passes; it returns how long that took.
func (e *env) waitClients(ctx context.Context, within time.Duration, ok func(replication.Topology) bool) (time.Duration, error) {
	e.mu.Lock()
	cs := append([]*followed(nil), e.clients...)
	e.mu.Unlock()
	start := time.Now()
	for _, c := range cs {
		if _, err := waitTopology(ctx, c.c, within-time.Since(start), ok); err != nil {
			return time.Since(start), fmt.Errorf("%w (one of %d clients)", err, len(cs))
		}
	}
	return time.Since(start), nil
}
