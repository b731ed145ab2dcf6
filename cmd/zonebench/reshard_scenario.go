package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/fleetreshard"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
	"github.com/zonecache/zonecache/warm"
)

// scenarioReshard grows and shrinks zone a, then adds and removes zone d,
// each warmed before its cutover.
const scenarioReshard = "reshard"

// Limits of the reshard scenario's copies, through the batch pools (the
// clean-up's deletes take the concurrency too): a rate the copy reaches,
// about a tenth of the workload's requests (a limit it cannot reach
// leaves the copy paced by its concurrency alone, as fast as the CPU it
// takes from the online traffic allows).
const (
	reshardCopyRate        = 2000 // items per second (--copy-rate)
	reshardCopyConcurrency = 4
)

// reshardStep is one change of the fleet's shape, carried out by the
// reshard library: the nodes to start warming first (an operator's part
// on a gossiping fleet), the change, and the zone an added zone is copied
// from.
type reshardStep struct {
	label    string
	start    []string // ids (zone-n) of nodes to start warming
	change   func(live replication.Topology) reshard.Change
	fromZone string
}

// reshardCopy is what one step's copy and clean-up did.
type reshardCopy struct {
	step    string
	keys    int64
	bytes   int64
	stats   reshard.CopyStats
	took    time.Duration
	cleaned warm.PurgeStats
}

// reshardDemo is the reshard scenario: four steps, one after the other,
// under the demo's workload and the consistency checker's.
type reshardDemo struct {
	f        *fleet.Fleet
	bench    *client.Client
	checker  *staleChecker
	trace    *reshardTrace
	steps    *stepMarks
	gap      time.Duration // steady time between steps
	copyRate float64       // the copy's rate limit, keys/s
	control  string        // "": the reshard; controlIdle or controlProcesses: a control run

	mu        sync.Mutex
	clients   []*client.Client // every client whose view a step waits for
	copies    []reshardCopy
	held      string // after the growth: how many keys a-3 holds of those it took
	ready     chan struct{}
	checkErr  error
	baseline  time.Duration // the steps begin at this offset
	runStart  time.Time     // when the measured phase began
	ended     time.Duration // offset at which the last step ended (0: not done)
	doneSteps int
}

// reshardScenario sets the events of the reshard scenario: the checker
// starts with the run, the steps begin after a baseline of 2/5 of it and
// are spaced by 1/20 of it, so that the seconds before the reshard, under
// the same workload and checker, are about as many as those of the
// reshard (about 40 of 100 s on a 2-core machine).
func (d *demo) reshardScenario() {
	dur := d.o.duration
	r := &reshardDemo{f: d.f, bench: d.target.Client(), checker: newStaleChecker(d.quiet), trace: d.trace, gap: dur / 20, copyRate: d.o.copyRate, control: d.o.control,
		baseline: max(dur*2/5, 3*time.Second), ready: make(chan struct{}),
		steps: &stepMarks{event: "reshard: zone a 2 -> 3 -> 2 nodes, zone d added from b, removed"}}
	r.clients = []*client.Client{r.bench}
	for _, n := range d.f.Nodes() {
		r.trace.watch(n.ID, n.Pid())
	}
	d.shape = r
	fmt.Fprintf(d.stdout, "client in zone a; workload for %v, resharding from %v (consistency checker: writer in a, readers in a, b, c)\n\n",
		dur, r.baseline)
	d.title = "zonecache demo: zone a grown and shrunk, zone d added and removed, warmed"
	d.events = []bench.Event{
		{At: 0, Label: "consistency checker started", Do: func(ctx context.Context) error { return r.runChecker(ctx, d.f.AdminAddrs()) }},
		{At: r.baseline, Label: r.steps.event, Do: r.do, Hold: true},
	}
}

// runChecker starts the checker's workload and names the history's
// phases after the seconds of the run until ctx ends.
func (r *reshardDemo) runChecker(ctx context.Context, seeds []string) error {
	start := time.Now()
	err := r.checker.start(ctx, seeds, []string{"a", "b", "c"})
	r.mu.Lock()
	r.runStart = start
	r.checkErr = err
	r.clients = append(r.clients, r.checker.clients...)
	r.mu.Unlock()
	close(r.ready)
	if err != nil {
		return err
	}
	go r.trace.run(ctx, start)
	r.checker.markSeconds(ctx, start)
	return nil
}

// reshardSteps are the scenario's steps.
func reshardSteps() []reshardStep {
	add := func(ids ...string) func(replication.Topology) reshard.Change {
		return func(live replication.Topology) reshard.Change {
			var c reshard.Change
			for _, id := range ids {
				n, _ := live.Node(id)
				c.Add = append(c.Add, n)
			}
			return c
		}
	}
	return []reshardStep{
		{label: "grow zone a: a-3 added", start: []string{"a-3"}, change: add("a-3")},
		{label: "shrink zone a: a-3 removed",
			change: func(replication.Topology) reshard.Change { return reshard.Change{Remove: []string{"a-3"}} }},
		{label: "add zone d from zone b", start: []string{"d-1", "d-2"}, change: add("d-1", "d-2"), fromZone: "b"},
		{label: "remove zone d",
			change: func(replication.Topology) reshard.Change { return reshard.Change{RemoveZones: []string{"d"}} }},
	}
}

// do runs the steps, spaced by the gap, once the checker runs.
func (r *reshardDemo) do(ctx context.Context) error {
	r.steps.begin()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.ready:
	}
	if r.checkErr != nil {
		return r.checkErr
	}
	for i, s := range reshardSteps() {
		if i > 0 {
			if err := backoff.Sleep(ctx, r.gap); err != nil {
				return err
			}
		}
		step := r.step
		if r.control != "" {
			step = r.controlStep
		}
		if err := step(ctx, s); err != nil {
			r.steps.mark(s.label+" failed", err)
			return err
		}
		r.mu.Lock()
		r.doneSteps++
		r.ended = time.Since(r.runStart)
		r.mu.Unlock()
	}
	return nil
}

// step runs one change: its new nodes started warming, then
// reshard.Reshard's steps, each marked with what the library said and how
// long it took.
func (r *reshardDemo) step(ctx context.Context, s reshardStep) error {
	r.steps.mark(s.label+": begins", nil)
	if err := r.startNodes(ctx, s); err != nil {
		return err
	}
	rs, err := reshard.New(reshard.RunConfig{Fleet: r.fleet(), Change: s.change(r.bench.Topology()), FromZone: s.fromZone,
		Copy: reshard.CopyConfig{Rate: r.copyRate, Concurrency: reshardCopyConcurrency}, ViewLag: -1,
		Say: func(step reshard.Step, msg string) { r.steps.mark(fmt.Sprintf("%s: %v: %s", s.label, step, msg), nil) }})
	if err != nil {
		return err
	}
	c := reshardCopy{step: s.label}
	var plan *reshard.Plan
	for _, ph := range r.phases(rs, &c, &plan) {
		began := time.Now()
		msg, err := ph.do(ctx)
		r.steps.mark(fmt.Sprintf("%s: %s done in %v%s", s.label, ph.name, time.Since(began).Round(time.Millisecond), msg), err)
		if err != nil {
			return err
		}
	}
	if slices.Contains(s.start, "a-3") {
		r.checkHeld(ctx, plan, "a-3")
	}
	r.mu.Lock()
	r.copies = append(r.copies, c)
	r.mu.Unlock()
	return nil
}

// Control runs of the reshard scenario (--control): the same schedule,
// workload, checker and report without the reshard, so that the seconds
// of the steps can be compared with seconds in which nothing was resharded
// on the same machine.
const (
	controlIdle      = "idle"      // each step only waits
	controlProcesses = "processes" // each step starts or stops its nodes, warming, then waits
)

// controlHold is how long a control step lasts: about as long as a step of
// the reshard takes (3 to 6 s on a 2-core machine).
const controlHold = 4 * time.Second

// controlStep is step s of a control run: with controlProcesses the nodes
// s starts are started warming and those it removes are stopped, as the
// reshard does, but nothing is planned, copied, switched or cleaned up.
func (r *reshardDemo) controlStep(ctx context.Context, s reshardStep) error {
	r.steps.mark(s.label+": begins (control: "+r.control+", no reshard)", nil)
	began := time.Now()
	if r.control == controlProcesses {
		if err := r.startNodes(ctx, s); err != nil {
			return err
		}
		live := r.bench.Topology()
		for _, n := range removedBy(live, s.change(live)) {
			if err := r.f.StopNode(n.ID, stepTimeout); err != nil {
				return err
			}
		}
	}
	if err := backoff.Sleep(ctx, controlHold-time.Since(began)); err != nil {
		return err
	}
	r.steps.mark(fmt.Sprintf("%s: control done in %v", s.label, time.Since(began).Round(time.Millisecond)), nil)
	return nil
}

// removedBy lists the nodes of live that change c removes, by id or zone.
func removedBy(live replication.Topology, c reshard.Change) []replication.Node {
	var out []replication.Node
	for _, n := range live.Nodes {
		if slices.Contains(c.Remove, n.ID) || slices.Contains(c.RemoveZones, n.Zone) {
			out = append(out, n)
		}
	}
	return out
}

// reshardPhase is one of reshard.Reshard's steps, as the demo calls it.
type reshardPhase struct {
	name string
	do   func(context.Context) (string, error) // what it did, to print
}

// phases are rs's steps in order; the copy's figures go to c and its plan
// to plan.
func (r *reshardDemo) phases(rs *reshard.Reshard, c *reshardCopy, plan **reshard.Plan) []reshardPhase {
	return []reshardPhase{
		{"plan", func(ctx context.Context) (string, error) {
			p, err := rs.Plan(ctx)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf(" (the sources' metadump): %d keys, %.2f MB to move", p.Keys(), float64(p.Bytes())/1e6), nil
		}},
		{"intermediate", func(ctx context.Context) (string, error) { return " (every client uses it)", rs.Intermediate(ctx) }},
		{"copy", func(ctx context.Context) (string, error) {
			began := time.Now()
			p, st, err := rs.Copy(ctx)
			if p != nil {
				*plan = p
				c.keys, c.bytes, c.stats, c.took = p.Keys(), p.Bytes(), st, time.Since(began)
			}
			return fmt.Sprintf(": copied %d of %d keys", st.Copied, c.keys), err
		}},
		{"switch", func(ctx context.Context) (string, error) {
			return " (reads on the new owners, writes to both; every client uses it)", rs.SwitchReads(ctx)
		}},
		{"cutover", func(ctx context.Context) (string, error) { return " (every client uses the target)", rs.Cutover(ctx) }},
		{"cleanup", func(ctx context.Context) (string, error) {
			st, err := rs.Cleanup(ctx)
			c.cleaned = st
			return fmt.Sprintf(": purge scanned %d items on %d nodes, deleted %d not owned", st.Scanned, st.Nodes, st.Deleted), err
		}},
	}
}

// startNodes starts s's new nodes warming and waits until every client
// sees them so: on a gossiping fleet the operator starts them, the
// reshard promotes them.
func (r *reshardDemo) startNodes(ctx context.Context, s reshardStep) error {
	if len(s.start) == 0 {
		return nil
	}
	for _, id := range s.start {
		zone, _, _ := strings.Cut(id, "-")
		n, err := r.f.Add(ctx, zone, id, "--state", string(replication.Warming))
		if err != nil {
			return err
		}
		r.trace.watch(n.ID, n.Pid())
	}
	err := r.waitClients(ctx, func(t replication.Topology) bool { return hasStates(t, s.start, replication.Warming) })
	r.steps.mark(fmt.Sprintf("%s: %v started warming, in every client's topology", s.label, s.start), err)
	return err
}

// fleet is the running fleet as a reshard.Fleet.
func (r *reshardDemo) fleet() reshard.Fleet {
	// A change counts once every client of the demo uses it, where an
	// operator, who does not know every client, waits RunConfig.ViewLag.
	return fleetreshard.Waiting{GossipFleet: fleetreshard.GossipFleet(r.f, stepTimeout),
		Wait: func(ctx context.Context, t replication.Topology) error {
			return r.waitClients(ctx, func(v replication.Topology) bool { return reshard.SameNodes(v, t) })
		}}
}

// checkHeld reads from node id, directly, the demo's keys the plan moved
// to it: after the cutover it must hold them all.
func (r *reshardDemo) checkHeld(ctx context.Context, plan *reshard.Plan, id string) {
	var addr string
	var want, held int
	for _, m := range plan.Moves {
		if m.To.ID != id {
			continue
		}
		addr = m.To.Addr
		for _, it := range m.Items {
			if !strings.HasPrefix(it.Key, "ck-") {
				want++
			}
		}
	}
	nc := nodeclient.NewNode(addr, nodeclient.Config{})
	defer nc.Close()
	for _, m := range plan.Moves {
		for _, it := range m.Items {
			if m.To.ID != id || strings.HasPrefix(it.Key, "ck-") {
				continue
			}
			if _, err := nc.Online().Get(ctx, it.Key); err == nil {
				held++
			}
		}
	}
	r.mu.Lock()
	r.held = fmt.Sprintf("%s holds %d of the %d demo keys it took over", id, held, want)
	r.mu.Unlock()
}

// waitClients polls every client's topology until ok holds for all of
// them, or stepTimeout passes.
func (r *reshardDemo) waitClients(ctx context.Context, ok func(replication.Topology) bool) error {
	r.mu.Lock()
	clients := slices.Clone(r.clients)
	r.mu.Unlock()
	deadline := time.Now().Add(stepTimeout)
	for _, c := range clients {
		for !ok(c.Topology()) {
			if time.Now().After(deadline) {
				return fmt.Errorf("not seen by every client within %v", stepTimeout)
			}
			if err := backoff.Sleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasStates reports whether t lists every node of ids in state st.
func hasStates(t replication.Topology, ids []string, st replication.NodeState) bool {
	for _, id := range ids {
		if n, ok := t.Node(id); !ok || n.EffectiveState() != st {
			return false
		}
	}
	return true
}

// reshardDuration is the reshard scenario's --duration unless given: a
// baseline as long as the reshard, four steps with steady seconds between
// them, and steady seconds after.
const reshardDuration = 100 * time.Second

// reshardUsage describes the scenario in `zonebench demo -h`.
const reshardUsage = "  reshard        zone a grown from 2 to 3 nodes (a-3 started warming, then reshard.Reshard: the\n" +
	"                 keys a-3 takes copied hottest first, a-3 promoted, the previous owners cleaned up),\n" +
	"                 shrunk back (a-3 draining, its keys copied to a-1 and a-2, then stopped), zone d\n" +
	"                 added warmed from zone b, then removed; with the consistency checker's writer and\n" +
	"                 readers; prints per second the local-zone hit ratio, caller errors, p99 and stale\n" +
	"                 reads, where the time went (p99 by operation and node, CPU of zonebench, of the\n" +
	"                 nodes and of the rest of the machine), and the issue's targets, PASS or FAIL\n" +
	"                 (needs --gossip; --duration defaults to 100s; --copy-rate sets the copy's limit;\n" +
	"                 --control idle|processes runs the same schedule without the reshard, for scale)\n"

// reshardOptions checks and completes o, parsed by fs, for the reshard
// scenario: it needs gossip, runs 100 s unless --duration says, and takes
// --control, which no other scenario does.
func reshardOptions(o *demoOptions, fs *flag.FlagSet) error {
	if o.scenario != scenarioReshard {
		if o.control != "" {
			return fmt.Errorf("--control is for --scenario %s only", scenarioReshard)
		}
		return nil
	}
	if o.copyRate < 0 {
		return errors.New("--copy-rate: want keys/s >= 0")
	}
	if !o.gossip {
		return errors.New("--scenario reshard needs --gossip")
	}
	if !flagGiven(fs, "duration") {
		o.duration = reshardDuration
	}
	switch o.control {
	case "", controlIdle, controlProcesses:
		return nil
	}
	return fmt.Errorf("--control %q: want %s or %s", o.control, controlIdle, controlProcesses)
}

// flagGiven reports whether flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
