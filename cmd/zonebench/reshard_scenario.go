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
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
	"github.com/zonecache/zonecache/warm"
)

// scenarioReshard grows and shrinks zone a, then adds and removes zone d,
// each warmed before its cutover.
const scenarioReshard = "reshard"

// Limits of the reshard scenario's copies: through the batch pools, below
// what the fleet serves online.
const (
	reshardCopyRate        = 20000 // items per second
	reshardCopyConcurrency = 4
)

// reshardStep is one change of the fleet's shape: nodes started warming,
// nodes set draining and nodes of a removed zone set warming (write-only)
// before the copy, as reshard.Intermediate has them, the change itself,
// and the zone an added zone is copied from.
type reshardStep struct {
	label    string
	start    []string // ids (zone-n) of nodes to start warming
	drain    []string // ids of nodes to set draining
	unread   []string // ids of running nodes to set warming
	change   func(live replication.Topology) reshard.Change
	fromZone string
}

// reshardCopy is what one step's plan and copy did.
type reshardCopy struct {
	step       string
	keys       int64
	bytes      int64
	stats      reshard.CopyStats
	took       time.Duration
	cutoverErr error
}

// reshardDemo is the reshard scenario: four steps, one after the other,
// under the demo's workload and the consistency checker's.
type reshardDemo struct {
	f       *fleet.Fleet
	bench   *client.Client
	checker *staleChecker
	trace   *reshardTrace
	steps   *stepMarks
	gap     time.Duration // steady time between steps

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
// starts with the run, the steps begin after a baseline of 1/8 of it and
// are spaced by 1/12 of it.
func (d *demo) reshardScenario() {
	dur := d.o.duration
	r := &reshardDemo{f: d.f, bench: d.target.Client(), checker: newStaleChecker(d.quiet), trace: d.trace, gap: dur / 12,
		baseline: max(dur/8, 3*time.Second), ready: make(chan struct{}),
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
		{At: r.baseline, Label: r.steps.event, Do: r.do},
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

// stepsOf are the scenario's steps.
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
		{label: "shrink zone a: a-3 removed", drain: []string{"a-3"},
			change: func(replication.Topology) reshard.Change { return reshard.Change{Remove: []string{"a-3"}} }},
		{label: "add zone d from zone b", start: []string{"d-1", "d-2"}, change: add("d-1", "d-2"), fromZone: "b"},
		{label: "remove zone d", unread: []string{"d-1", "d-2"},
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
		if err := r.step(ctx, s); err != nil {
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

// step runs one change: new nodes warming and leaving ones draining until
// every client writes to the new owners, then plan, copy and cutover.
func (r *reshardDemo) step(ctx context.Context, s reshardStep) error {
	r.steps.mark(s.label+": begins", nil)
	if err := r.prepare(ctx, s); err != nil {
		return err
	}
	live := r.bench.Topology()
	tgt, err := s.change(live).Apply(live)
	if err != nil {
		return err
	}
	if err := r.waitClients(ctx, func(t replication.Topology) bool { return reshard.Ready(t, tgt) == nil }); err != nil {
		return fmt.Errorf("clients not ready: %w", err)
	}
	began := time.Now()
	plan, err := reshard.NewPlan(ctx, reshard.Config{Current: live, Target: tgt, FromZone: s.fromZone})
	if err != nil {
		return err
	}
	st, err := reshard.Copy(ctx, plan, reshard.CopyConfig{Rate: reshardCopyRate, Concurrency: reshardCopyConcurrency})
	c := reshardCopy{step: s.label, keys: plan.Keys(), bytes: plan.Bytes(), stats: st, took: time.Since(began)}
	r.steps.mark(fmt.Sprintf("%s: copied %d of %d keys in %v", s.label, st.Copied, c.keys, c.took.Round(time.Millisecond)), err)
	if err != nil {
		return err
	}
	c.cutoverErr = r.cutover(ctx, live, tgt, plan)
	r.steps.mark(s.label+": cut over", c.cutoverErr)
	if c.cutoverErr == nil && slices.Contains(s.start, "a-3") {
		r.checkHeld(ctx, plan, "a-3")
	}
	r.mu.Lock()
	r.copies = append(r.copies, c)
	r.mu.Unlock()
	return c.cutoverErr
}

// prepare starts s's new nodes warming, sets its leaving ones draining
// and a removed zone's warming, and waits until every client sees them so.
func (r *reshardDemo) prepare(ctx context.Context, s reshardStep) error {
	for _, id := range s.start {
		zone, _, _ := strings.Cut(id, "-")
		n, err := r.f.Add(ctx, zone, id, "--state", string(replication.Warming))
		if err != nil {
			return err
		}
		r.trace.watch(n.ID, n.Pid())
	}
	for _, id := range s.drain {
		if err := r.setState(ctx, id, replication.Draining); err != nil {
			return err
		}
	}
	for _, id := range s.unread {
		if err := r.setState(ctx, id, replication.Warming); err != nil {
			return err
		}
	}
	warming := append(slices.Clone(s.start), s.unread...)
	err := r.waitClients(ctx, func(t replication.Topology) bool {
		return hasStates(t, warming, replication.Warming) && hasStates(t, s.drain, replication.Draining)
	})
	r.steps.mark(fmt.Sprintf("%s: %v warming, %v draining in every client's topology", s.label, warming, s.drain), err)
	return err
}

// cutover promotes the nodes tgt adds, drains and stops those it drops,
// waits until every client uses tgt, then purges the plan's sources that
// stay in their zone (the items they no longer own).
//
// It stands in for package reshard's cutover, being written: the lead
// replaces this function by that library call.
func (r *reshardDemo) cutover(ctx context.Context, live, tgt replication.Topology, plan *reshard.Plan) error {
	for _, n := range live.Nodes {
		if _, kept := tgt.Node(n.ID); kept && n.EffectiveState() == replication.Warming {
			if err := r.setState(ctx, n.ID, replication.Serving); err != nil {
				return err
			}
		}
	}
	r.stopLeaving(tgt)
	if err := r.waitClients(ctx, func(t replication.Topology) bool { return sameNodes(t, tgt) }); err != nil {
		return err
	}
	sources := purgedSources(plan, tgt)
	if len(sources) == 0 {
		return nil
	}
	_, err := warm.Purge(ctx, warm.PurgeConfig{Topology: tgt, Nodes: sources})
	return err
}

// purgedSources are the plan's sources that stay, in their zone: after
// the cutover they hold keys they no longer own. A zone copied into
// another one keeps its keys.
func purgedSources(plan *reshard.Plan, tgt replication.Topology) []string {
	var out []string
	for _, m := range plan.Moves {
		if _, kept := tgt.Node(m.From.ID); kept && m.From.Zone == m.To.Zone && !slices.Contains(out, m.From.ID) {
			out = append(out, m.From.ID)
		}
	}
	return out
}

// stopLeaving stops the nodes tgt drops (SIGTERM: each advertises
// draining, leaves the gossip and waits for reads to stop) and waits for
// them.
func (r *reshardDemo) stopLeaving(tgt replication.Topology) {
	var wg sync.WaitGroup
	for _, n := range r.f.Nodes() {
		if _, kept := tgt.Node(n.ID); !kept && n.Running() {
			wg.Add(1)
			go func() { defer wg.Done(); _ = n.Terminate(stepTimeout) }()
		}
	}
	wg.Wait()
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

func (r *reshardDemo) setState(ctx context.Context, id string, to replication.NodeState) error {
	for _, n := range r.f.Nodes() {
		if n.ID == id && n.Running() {
			sctx, cancel := context.WithTimeout(ctx, stepTimeout)
			defer cancel()
			_, err := n.Admin().SetState(sctx, to)
			return err
		}
	}
	return fmt.Errorf("no running node %s", id)
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

// sameNodes reports whether t lists exactly tgt's nodes, all serving.
func sameNodes(t, tgt replication.Topology) bool {
	if len(t.Nodes) != len(tgt.Nodes) {
		return false
	}
	for _, n := range tgt.Nodes {
		if got, ok := t.Node(n.ID); !ok || got.EffectiveState() != replication.Serving {
			return false
		}
	}
	return true
}

// reshardDuration is the reshard scenario's --duration unless given: a
// baseline, four steps and the steady seconds between them.
const reshardDuration = 60 * time.Second

// reshardUsage describes the scenario in `zonebench demo -h`.
const reshardUsage = "  reshard        zone a grown from 2 to 3 nodes (a-3 started warming, the keys it takes copied\n" +
	"                 hottest first, then promoted), shrunk back (a-3 draining, its keys copied to\n" +
	"                 a-1 and a-2, then stopped), zone d added warmed from zone b, then removed; with\n" +
	"                 the consistency checker's writer and readers; prints per second the local-zone\n" +
	"                 hit ratio, caller errors, p99 and stale reads, and the issue's targets, met or\n" +
	"                 NOT met (needs --gossip; --duration defaults to 60s)\n"

// reshardOptions checks and completes o, parsed by fs, for the reshard
// scenario: it needs gossip, and runs 60 s unless --duration says.
func reshardOptions(o *demoOptions, fs *flag.FlagSet) error {
	if o.scenario != scenarioReshard {
		return nil
	}
	if !o.gossip {
		return errors.New("--scenario reshard needs --gossip")
	}
	if !flagGiven(fs, "duration") {
		o.duration = reshardDuration
	}
	return nil
}

// flagGiven reports whether flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
