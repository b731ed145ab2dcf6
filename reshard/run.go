package reshard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
	"github.com/zonecache/zonecache/warm"
)

// DefaultViewLag is RunConfig.ViewLag's default: discovery's watch delay
// (a long poll answers at once; a client whose seed failed retries within
// 10 s) with margin, as server.DefaultPurgeWindow.
const DefaultViewLag = 30 * time.Second

// Errors of a Reshard's steps.
var (
	// ErrStep: a step was called before the one it follows was done.
	ErrStep = errors.New("reshard: step out of order")
	// ErrIncomplete: the step ended with items failed; run it again.
	ErrIncomplete = errors.New("reshard: step incomplete")
)

// Step is one step of a reshard, in the order they run.
type Step int

// The steps; a Reshard records the last one done.
const (
	// StepNone: nothing done yet.
	StepNone Step = iota
	// StepPlan: the target is set and checked, the plan previewed;
	// nothing changed.
	StepPlan
	// StepIntermediate: clients use the intermediate topology (new nodes
	// warming, leaving ones draining).
	StepIntermediate
	// StepCopy: the moving items are on their new owners.
	StepCopy
	// StepSwitch: clients use the switch topology (reads on the new
	// owners, writes to the old ones too).
	StepSwitch
	// StepCutover: clients use the target topology.
	StepCutover
	// StepCleanup: the moved items are purged from their previous
	// owners; the reshard is done.
	StepCleanup
)

var stepNames = []string{"none", "plan", "intermediate", "copy", "switch", "cutover", "cleanup"}

// String names the step as logs, the checkpoint and `zonecache reshard`
// print it: "plan", "copy", "cutover"…
func (s Step) String() string {
	if s < 0 || int(s) >= len(stepNames) {
		return fmt.Sprintf("step(%d)", int(s))
	}
	return stepNames[s]
}

// MarshalText names the step, for the checkpoint.
func (s Step) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a step's name.
func (s *Step) UnmarshalText(b []byte) error {
	i := slices.Index(stepNames, string(b))
	if i < 0 {
		return fmt.Errorf("%w: unknown step %q", ErrCheckpoint, b)
	}
	*s = Step(i)
	return nil
}

// RunConfig describes a whole reshard. Zero fields take the documented
// defaults.
type RunConfig struct {
	// Fleet reads and changes the topology clients use. Required.
	Fleet Fleet
	// Target is the fleet after the reshard; when it has no node, Change
	// applied to the fleet's current topology is.
	Target replication.Topology
	// Change is the edit that makes the target (see Change.Apply).
	Change Change
	// FromZone, Sharding, SkipExpiring and DialTimeout are the plan's (see
	// Config).
	FromZone     string
	Sharding     sharding.Config
	SkipExpiring time.Duration
	DialTimeout  time.Duration
	// Copy configures the copy; its Checkpoint is set from Checkpoint.
	Copy CopyConfig
	// Checkpoint, when set, is the path of the file recording the last
	// step done and the topologies, read by Open; the copy's checkpoint
	// is Checkpoint + ".copy" (and its plan Checkpoint + ".copy.plan").
	Checkpoint string
	// ViewLag is how long clients may take to use a topology once every
	// seed shows it, waited after each topology (intermediate, switch,
	// cutover): clients then use at most two adjacent ones at a time
	// (default DefaultViewLag; negative: no wait).
	ViewLag time.Duration
	// Say, when set, is told what each step does and what the operator
	// must do.
	Say func(step Step, msg string)
}

// Reshard carries out a reshard one step at a time: Plan, Intermediate,
// Copy, SwitchReads, Cutover, Cleanup, each only after the one before (Run
// calls those not done). With a Checkpoint, each step done is recorded, so that Open
// continues an interrupted reshard at the right step.
type Reshard struct {
	cfg RunConfig
	st  runState
	// preview is Plan's plan, which Copy uses when clients already wrote
	// to the new owners before it was made (no intermediate to publish);
	// copied is the plan Copy carried out, whose moved keys Cleanup
	// deletes from their previous owners.
	preview, copied *Plan
	// recopied: the copy ran again because a destination lost what it
	// held (kept.go); a second loss stops the reshard.
	recopied bool
}

// runState is the checkpoint of a reshard.
type runState struct {
	Done         Step                 `json:"done"`
	Current      replication.Topology `json:"current"`
	Intermediate replication.Topology `json:"intermediate"`
	Switch       replication.Topology `json:"switch"`
	Target       replication.Topology `json:"target"`
	FromZone     string               `json:"from_zone,omitempty"`
	// Publishing: the intermediate topology may have reached clients, so
	// nodes new to them are not emptied again (they take live writes).
	Publishing bool `json:"publishing,omitempty"`
}

// New returns a reshard with no step done. It removes the checkpoint
// files of an earlier run at cfg.Checkpoint.
func New(cfg RunConfig) (*Reshard, error) {
	if cfg.Fleet == nil {
		return nil, fmt.Errorf("%w: no fleet", ErrConfig)
	}
	if cfg.Checkpoint != "" {
		for _, p := range []string{cfg.Checkpoint, copyPath(cfg.Checkpoint), planPath(copyPath(cfg.Checkpoint))} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("reshard: checkpoint: %w", err)
			}
		}
	}
	return &Reshard{cfg: cfg}, nil
}

// Open returns the reshard recorded at cfg.Checkpoint, to continue it
// with the step after the last one done. cfg's Target, Change and FromZone
// are ignored: the checkpoint's are used.
func Open(cfg RunConfig) (*Reshard, error) {
	if cfg.Fleet == nil || cfg.Checkpoint == "" {
		return nil, fmt.Errorf("%w: Open needs a fleet and a checkpoint", ErrConfig)
	}
	r := &Reshard{cfg: cfg}
	if err := readJSON(cfg.Checkpoint, &r.st); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if r.st.Done < StepPlan || r.st.Done > StepCleanup || len(r.st.Target.Nodes) == 0 {
		return nil, fmt.Errorf("%w: %s records no planned reshard", ErrCheckpoint, cfg.Checkpoint)
	}
	r.cfg.FromZone = r.st.FromZone
	if len(r.st.Switch.Nodes) == 0 { // a checkpoint written before the switch step
		r.st.Switch = Switch(r.st.Current, r.st.Target)
	}
	return r, nil
}

// Done returns the last step done.
func (r *Reshard) Done() Step { return r.st.Done }

// Topologies returns the current, intermediate and target topologies,
// once Plan is done.
func (r *Reshard) Topologies() (cur, mid, tgt replication.Topology) {
	return r.st.Current, r.st.Intermediate, r.st.Target
}

// SwitchTopology returns the topology of the switch step (see Switch),
// once Plan is done.
func (r *Reshard) SwitchTopology() replication.Topology { return r.st.Switch }

// Run carries out every step not done yet, in order.
func (r *Reshard) Run(ctx context.Context) error {
	for r.st.Done < StepCleanup {
		if err := r.Next(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Next carries out the step after the last one done; nil when all are.
func (r *Reshard) Next(ctx context.Context) error {
	var err error
	switch r.st.Done {
	case StepNone:
		_, err = r.Plan(ctx)
	case StepPlan:
		err = r.Intermediate(ctx)
	case StepIntermediate:
		_, _, err = r.Copy(ctx)
	case StepCopy:
		err = r.SwitchReads(ctx)
	case StepSwitch:
		err = r.Cutover(ctx)
	case StepCutover:
		_, err = r.Cleanup(ctx)
	}
	return err
}

// Plan reads the fleet's topology, makes the target and the intermediate
// topology, refuses a reshard that cannot be done warm or safely, and
// returns the plan as of now (a preview: the copy plans again once writes
// reach the new owners). It changes nothing in the fleet.
func (r *Reshard) Plan(ctx context.Context) (*Plan, error) {
	if err := r.after(StepNone); err != nil {
		return nil, err
	}
	cur, err := r.cfg.Fleet.Topology(ctx)
	if err != nil {
		return nil, err
	}
	tgt := r.cfg.Target
	if len(tgt.Nodes) == 0 {
		if tgt, err = r.cfg.Change.Apply(cur); err != nil {
			return nil, err
		}
	}
	mid, sw := intermediate(cur, tgt), Switch(cur, tgt)
	tgt.Epoch = max(tgt.Epoch, sw.Epoch+1) // clients refuse an older epoch
	if err := checkRun(cur, mid, tgt); err != nil {
		return nil, err
	}
	if err := r.cfg.Fleet.Check(ctx, cur, mid, tgt); err != nil {
		return nil, err
	}
	if err := checkNewNodes(ctx, cur, mid, r.cfg.DialTimeout); err != nil {
		return nil, err
	}
	plan, err := NewPlan(ctx, r.planConfig(cur, tgt))
	if err != nil {
		return nil, err
	}
	r.st = runState{Current: cur, Intermediate: mid, Switch: sw, Target: tgt, FromZone: r.cfg.FromZone}
	if SameNodes(cur, mid) {
		r.preview = plan
	}
	return plan, r.done(StepPlan)
}

// Intermediate has the clients use the intermediate topology (new nodes
// warming, so they take the writes of the keys they take over; leaving
// nodes draining, so they serve reads and take no new keys), then waits
// out the clients' lag. Nodes new to the clients are emptied first: what
// they hold is from an earlier membership and may be old.
func (r *Reshard) Intermediate(ctx context.Context) error {
	if err := r.after(StepPlan); err != nil {
		return err
	}
	say := r.sayer(StepIntermediate)
	if SameNodes(r.st.Current, r.st.Intermediate) {
		say("clients already write to the new owners: nothing to change")
		return r.done(StepIntermediate)
	}
	if !r.st.Publishing {
		if err := r.emptyNewNodes(ctx, say); err != nil {
			return err
		}
		r.st.Publishing = true
		if err := r.done(StepPlan); err != nil {
			return err
		}
	}
	say("new nodes warming (writes, no reads), leaving nodes draining (reads, no new keys)")
	return r.publish(ctx, StepIntermediate, r.st.Intermediate, say)
}

// Copy plans from the intermediate topology (or takes Plan's plan when
// clients already wrote to the new owners then) and copies the items that
// change owner to their new owners (see Copy), or continues the copy of
// the checkpoint. Items that failed leave the step not done (ErrIncomplete):
// calling Copy again continues.
func (r *Reshard) Copy(ctx context.Context) (*Plan, CopyStats, error) {
	if err := r.after(StepIntermediate); err != nil {
		return nil, CopyStats{}, err
	}
	cc := r.cfg.Copy
	cc.Checkpoint = ""
	if r.cfg.Checkpoint != "" {
		cc.Checkpoint = copyPath(r.cfg.Checkpoint)
	}
	plan, st, err := r.copy(ctx, cc)
	if err == nil && st.Failed > 0 {
		err = fmt.Errorf("%w: %d items failed to copy", ErrIncomplete, st.Failed)
	}
	if err != nil {
		return plan, st, err
	}
	r.sayer(StepCopy)(fmt.Sprintf("%d keys: %v", plan.Keys(), st))
	r.copied = plan
	return plan, st, r.done(StepCopy)
}

func (r *Reshard) copy(ctx context.Context, cc CopyConfig) (*Plan, CopyStats, error) {
	if cc.Checkpoint != "" {
		if _, err := os.Stat(cc.Checkpoint); err == nil {
			return Resume(ctx, cc)
		}
	}
	plan := r.preview
	if plan == nil {
		var err error
		if plan, err = NewPlan(ctx, r.planConfig(r.st.Intermediate, r.st.Target)); err != nil {
			return nil, CopyStats{}, err
		}
	}
	st, err := Copy(ctx, plan, cc)
	return plan, st, err
}

// SwitchReads has the clients use the switch topology (see Switch: reads
// on the new owners, writes to the old ones too), then waits out the
// clients' lag, so that no client is left on the intermediate topology,
// reading an old owner, when the cutover stops writing to it. It changes
// nothing when the switch is the intermediate or the target topology (a
// zone removed or added, nothing else). First, when a node that received
// copies lost them since (a sample read back: a restart, a flush, an
// invalidation), it copies again, once.
func (r *Reshard) SwitchReads(ctx context.Context) error {
	if err := r.after(StepCopy); err != nil {
		return err
	}
	say := r.sayer(StepSwitch)
	if err := r.checkCopyKept(ctx, say); err != nil {
		return err
	}
	if SameNodes(r.st.Switch, r.st.Intermediate) || SameNodes(r.st.Switch, r.st.Target) {
		say("no reads to move before the cutover")
		return r.done(StepSwitch)
	}
	say("reads on the new owners (new nodes draining), writes to the old ones too (leaving nodes warming)")
	return r.publish(ctx, StepSwitch, r.st.Switch, say)
}

// Cutover has the clients use the target topology (new nodes serving,
// leaving nodes gone), then waits out the clients' lag.
func (r *Reshard) Cutover(ctx context.Context) error {
	if err := r.after(StepSwitch); err != nil {
		return err
	}
	say := r.sayer(StepCutover)
	say("new nodes serving, leaving nodes out of the fleet")
	return r.publish(ctx, StepCutover, r.st.Target, say)
}

// Cleanup deletes the moved items from their previous owners (the keys
// of the copied plan, which a checkpoint keeps), then, from the nodes of
// every zone the reshard changed, the items they do not own in the target
// (warm.Purge: writes of clients whose view lagged; a metadump may miss
// items the node moves between its LRUs meanwhile, hence the exact pass
// first), so that ownership moving back later finds no old copy. A
// gossiping zonecached also purges by itself; this makes sure, and counts.
func (r *Reshard) Cleanup(ctx context.Context) (warm.PurgeStats, error) {
	if err := r.after(StepCutover); err != nil {
		return warm.PurgeStats{}, err
	}
	moved, err := r.deleteMoved(ctx)
	if err != nil {
		return warm.PurgeStats{}, err
	}
	var nodes []string
	for _, n := range r.st.Target.Nodes {
		if zoneChanged(r.st.Current, r.st.Target, n.Zone) {
			nodes = append(nodes, n.ID)
		}
	}
	st := warm.PurgeStats{}
	if len(nodes) > 0 {
		st, err = warm.Purge(ctx, warm.PurgeConfig{Topology: r.st.Target, Nodes: nodes, Sharding: r.cfg.Sharding,
			DialTimeout: r.cfg.DialTimeout, Node: r.cfg.Copy.Node})
	}
	if err == nil && st.Errors > 0 {
		err = fmt.Errorf("%w: %d items failed to purge", ErrIncomplete, st.Errors)
	}
	if err != nil {
		return st, err
	}
	r.sayer(StepCleanup)(fmt.Sprintf("%d moved items deleted from their previous owners; %v purged of the items they do not own: %v", moved, nodes, st))
	return st, r.done(StepCleanup)
}

// deleteMoved deletes the keys of the copied plan's moves within a zone
// from their source, when the target keeps it, and returns how many it
// deleted.
func (r *Reshard) deleteMoved(ctx context.Context) (int64, error) {
	plan, err := r.copiedPlan()
	if plan == nil {
		return 0, err
	}
	c := &copier{plan: plan, cfg: CopyConfig{Concurrency: cmp.Or(r.cfg.Copy.Concurrency, DefaultConcurrency), Node: r.cfg.Copy.Node},
		nodes: map[string]*nodeclient.Node{}}
	defer c.closeNodes()
	var deleted, failed atomic.Int64
	for _, m := range plan.Moves {
		if _, kept := r.st.Target.Node(m.From.ID); !kept || m.From.Zone != m.Zone {
			continue // a node that left, or a copy into an added zone (the source keeps its items)
		}
		pool := c.node(m.From.Addr).Batch()
		err := c.limited(ctx, len(m.Items), func(int) int64 { return 0 }, func(i int) {
			switch err := pool.Delete(ctx, m.Items[i].Key); {
			case err == nil:
				deleted.Add(1)
			case !errors.Is(err, nodeclient.ErrNotFound):
				failed.Add(1)
			}
		})
		if err != nil {
			return deleted.Load(), err
		}
	}
	if n := failed.Load(); n > 0 {
		return deleted.Load(), fmt.Errorf("%w: %d moved items failed to delete from their previous owners", ErrIncomplete, n)
	}
	return deleted.Load(), nil
}

// after refuses a step unless prev is the last step done.
func (r *Reshard) after(prev Step) error {
	if r.st.Done != prev {
		return fmt.Errorf("%w: step %v is done, not %v", ErrStep, r.st.Done, prev)
	}
	return nil
}

// done records step as done.
func (r *Reshard) done(step Step) error {
	r.st.Done = step
	if r.cfg.Checkpoint == "" {
		return nil
	}
	if err := writeJSON(r.cfg.Checkpoint, r.st); err != nil {
		return fmt.Errorf("reshard: checkpoint: %w", err)
	}
	return nil
}

func (r *Reshard) sayer(step Step) func(string) {
	return func(msg string) {
		if r.cfg.Say != nil {
			r.cfg.Say(step, msg)
		}
	}
}

func (r *Reshard) planConfig(cur, tgt replication.Topology) Config {
	return Config{Current: cur, Target: tgt, FromZone: r.cfg.FromZone, Sharding: r.cfg.Sharding,
		SkipExpiring: r.cfg.SkipExpiring, DialTimeout: r.cfg.DialTimeout, TLS: r.cfg.Copy.Node.TLS, Auth: r.cfg.Copy.Node.Auth}
}

// publish has the clients use t, the topology of step, waits out their
// lag and records step done.
func (r *Reshard) publish(ctx context.Context, step Step, t replication.Topology, say func(string)) error {
	if err := r.cfg.Fleet.Apply(ctx, step, t, say); err != nil {
		return err
	}
	if err := r.waitLag(ctx, say); err != nil {
		return err
	}
	return r.done(step)
}

// waitLag waits cfg.ViewLag, for clients to use the topology every seed
// shows.
func (r *Reshard) waitLag(ctx context.Context, say func(string)) error {
	lag := cmp.Or(r.cfg.ViewLag, DefaultViewLag)
	if lag < 0 {
		return nil
	}
	say(fmt.Sprintf("waiting %v for clients to use it", lag))
	return backoff.Sleep(ctx, lag)
}

// emptyNewNodes deletes every item of the intermediate's nodes that the
// current topology does not list: no client writes to them yet.
func (r *Reshard) emptyNewNodes(ctx context.Context, say func(string)) error {
	for _, n := range r.st.Intermediate.Nodes {
		if _, known := r.st.Current.Node(n.ID); known {
			continue
		}
		var keys []string
		if _, err := warm.Dump(ctx, n.Addr, nodeclient.Config{DialTimeout: r.cfg.DialTimeout, TLS: r.cfg.Copy.Node.TLS, Auth: r.cfg.Copy.Node.Auth}, func(it warm.Item) { keys = append(keys, it.Key) }); err != nil {
			return fmt.Errorf("reshard: dump new node %s (%s): %w", n.ID, n.Addr, err)
		}
		if len(keys) == 0 {
			continue
		}
		nc := nodeclient.NewNode(n.Addr, r.cfg.Copy.Node)
		for _, k := range keys {
			if err := nc.Batch().Delete(ctx, k); err != nil && !errors.Is(err, nodeclient.ErrNotFound) {
				nc.Close()
				return fmt.Errorf("reshard: empty new node %s: %w", n.ID, err)
			}
		}
		nc.Close()
		say(fmt.Sprintf("%s held %d items from before: deleted", n.ID, len(keys)))
	}
	return nil
}

// copiedPlan returns the plan Copy carried out, read from the checkpoint
// after Open; nil when there is none.
func (r *Reshard) copiedPlan() (*Plan, error) {
	if r.copied != nil || r.cfg.Checkpoint == "" {
		return r.copied, nil
	}
	var p Plan
	switch err := readJSON(planPath(copyPath(r.cfg.Checkpoint)), &p); {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: the copy's plan: %w", ErrCheckpoint, err)
	}
	return &p, nil
}

// copyPath is the copy's checkpoint of the reshard checkpoint at path.
func copyPath(path string) string { return path + ".copy" }

// intermediate is Intermediate(cur, tgt), with the nodes tgt keeps that
// are joining in cur warming.
func intermediate(cur, tgt replication.Topology) replication.Topology {
	mid := Intermediate(cur, tgt)
	for i, n := range mid.Nodes {
		if _, kept := tgt.Node(n.ID); kept && n.EffectiveState() == replication.Joining {
			mid.Nodes[i].State = replication.Warming
		}
	}
	return mid
}

// checkRun refuses a reshard from a topology left draining or reweighting
// by an unfinished one, and one that leaves a zone with no serving node
// during the copy.
func checkRun(cur, mid, tgt replication.Topology) error {
	for _, n := range tgt.Nodes {
		was, ok := cur.Node(n.ID)
		if ok && was.EffectiveState() == replication.Draining {
			return fmt.Errorf("%w: node %s is draining and the target keeps it: finish its change (remove it, or resume that reshard) or undo it (promote it to serving) first",
				ErrUnsettled, n.ID)
		}
		if ok && was.NextWeight > 0 && was.NextWeight != n.EffectiveWeight() {
			return fmt.Errorf("%w: node %s is moving to weight %d, not %d: finish that change (resume it) or undo it first",
				ErrUnsettled, n.ID, was.NextWeight, n.EffectiveWeight())
		}
	}
	for _, z := range tgt.Zones() {
		isServing := func(s replication.NodeState) bool { return s == replication.Serving }
		if serves(cur, z) && len(mid.ZoneNodes(z, isServing)) == 0 {
			return fmt.Errorf("%w: zone %s would be left with no serving node during the copy (the old nodes draining, the new ones warming): add the new nodes in one reshard, remove the old ones in a second",
				ErrConfig, z)
		}
	}
	if err := Ready(mid, tgt); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// zoneChanged reports whether zone's read ring in tgt differs from cur's:
// other nodes or weights.
func zoneChanged(cur, tgt replication.Topology, zone string) bool {
	w := replication.Node.EffectiveWeight
	return !slices.Equal(ringOf(cur.ZoneNodes(zone, replication.NodeState.ServesReads), w), ringOf(tgt.ZoneNodes(zone, nil), w))
}

// checkNewNodes refuses nodes of mid that cur does not list and that do
// not answer.
func checkNewNodes(ctx context.Context, cur, mid replication.Topology, timeout time.Duration) error {
	d := net.Dialer{Timeout: cmp.Or(timeout, warm.DefaultDialTimeout)}
	for _, n := range mid.Nodes {
		if _, known := cur.Node(n.ID); known {
			continue
		}
		c, err := d.DialContext(ctx, "tcp", n.Addr)
		if err != nil {
			return fmt.Errorf("%w: new node %s (%s) does not answer (%w): start it, then run the reshard again", ErrUnsettled, n.ID, n.Addr, err)
		}
		c.Close()
	}
	return nil
}
