package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/faultproxy"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/warm"
)

// The scenarios of `zonebench demo`.
const (
	scenarioZoneLost     = "zone-lost"
	scenarioNodeReplaced = "node-replaced"
	scenarioSlowNode     = "slow-node"
)

var scenarios = []string{scenarioZoneLost, scenarioNodeReplaced, scenarioSlowNode, scenarioReshard, scenarioTierDown}

// Timings of the scenarios.
const (
	slowDelay = 50 * time.Millisecond // below the client's online timeout (500 ms)
	hungDelay = 2 * time.Second       // beyond it
	// stepTimeout bounds each step of the node replacement (the new node
	// showing in the client's topology, the warm-up, the promotion).
	stepTimeout = 15 * time.Second
)

// stepMarks records sub-steps of one event with their time, relative to
// when the event began; they are added to the result after the run, at the
// event's mark plus their offset, so the report and the chart show when each
// step really happened.
type stepMarks struct {
	event string // the label of the bench.Event the steps belong to

	mu    sync.Mutex
	began time.Time
	steps []bench.EventMark
}

func (s *stepMarks) begin() {
	s.mu.Lock()
	s.began = time.Now()
	s.mu.Unlock()
}

// mark records a step that happened now; err, if any, is its error.
func (s *stepMarks) mark(label string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := bench.EventMark{At: time.Since(s.began), Label: label}
	if err != nil {
		m.Err = err.Error()
	}
	s.steps = append(s.steps, m)
}

// addTo adds the steps to res's events, placed after the event's mark.
func (s *stepMarks) addTo(res *bench.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(res.Events, func(m bench.EventMark) bool { return m.Label == s.event })
	if i < 0 {
		return
	}
	base := res.Events[i].At
	for _, m := range s.steps {
		m.At += base
		res.Events = append(res.Events, m)
	}
	slices.SortStableFunc(res.Events, func(a, b bench.EventMark) int { return cmp.Compare(a.At, b.At) })
}

// nodeReplacement is the node-replaced scenario: node old of zone is
// killed, repl starts in state warming, is warmed from zone from and, once
// old is declared dead, promoted to serving.
type nodeReplacement struct {
	f               *fleet.Fleet
	c               *client.Client
	zone, old, repl string
	from            string
	steps           *stepMarks
	watch           *watcher
	warmed          warm.Stats
	warmErr         error
}

func newNodeReplacement(f *fleet.Fleet, c *client.Client, w *watcher) *nodeReplacement {
	return &nodeReplacement{f: f, c: c, watch: w, zone: "a", old: "a-1", repl: "a-3", from: "b",
		steps: &stepMarks{event: "a-1 killed; replacing it with a-3"}}
}

// event is the bench.Event that runs the whole replacement at offset at.
func (r *nodeReplacement) event(at time.Duration) bench.Event {
	return bench.Event{At: at, Label: r.steps.event, Do: r.do}
}

// do replaces the node: kill the old one, start the new one warming, warm
// it, and promote it once the old one is gone.
func (r *nodeReplacement) do(ctx context.Context) error {
	r.steps.begin()
	old, err := r.killOld()
	if err != nil {
		return err
	}
	n, err := r.startReplacement(ctx, old)
	if err != nil {
		return err
	}
	if err := r.warmUp(ctx); err != nil {
		return err
	}
	return r.promote(ctx, n)
}

// killOld kills node old.
func (r *nodeReplacement) killOld() (*fleet.Node, error) {
	for _, n := range r.f.Nodes() {
		if n.ID == r.old {
			n.Kill()
			return n, nil
		}
	}
	return nil, fmt.Errorf("no node %s", r.old)
}

// startReplacement starts repl warming and waits until the client's
// discovery watch, restarted with repl as first seed, brings it in.
func (r *nodeReplacement) startReplacement(ctx context.Context, old *fleet.Node) (*fleet.Node, error) {
	n, err := r.f.Add(ctx, r.zone, r.repl, "--state", string(replication.Warming))
	r.steps.mark(fmt.Sprintf("%s started (warming)", r.repl), err)
	if err != nil {
		return nil, err
	}
	// The new node becomes the client's first seed: its own state is in its
	// view at once, where the others learn it through gossip.
	seeds := []string{n.AdminAddr}
	for _, a := range r.f.AdminAddrs() {
		if a != n.AdminAddr && a != old.AdminAddr {
			seeds = append(seeds, a)
		}
	}
	r.watch.start(seeds)
	if err := r.waitClient(ctx, func(t replication.Topology) bool {
		nd, ok := t.Node(r.repl)
		return ok && nd.EffectiveState() == replication.Warming
	}); err != nil {
		r.steps.mark(fmt.Sprintf("%s not in the client's topology", r.repl), err)
		return nil, err
	}
	r.steps.mark(fmt.Sprintf("%s in the client's topology (writes)", r.repl), nil)
	return n, nil
}

// warmUp copies repl's keys from zone from, with the client's view less the
// dead node: the ring repl will serve in once old is gone.
func (r *nodeReplacement) warmUp(ctx context.Context) error {
	top := r.c.Topology()
	top.Nodes = slices.DeleteFunc(slices.Clone(top.Nodes), func(nd replication.Node) bool { return nd.ID == r.old })
	wctx, cancel := context.WithTimeout(ctx, stepTimeout)
	r.warmed, r.warmErr = warm.Warm(wctx, warm.Config{Topology: top, Target: r.repl, FromZone: r.from})
	cancel()
	r.steps.mark(fmt.Sprintf("%s warmed from zone %s: copied %d", r.repl, r.from, r.warmed.Copied), r.warmErr)
	return r.warmErr
}

// promote sets repl serving once the fleet has declared old dead and the
// client dropped it: from then on repl serves the keys it was warmed with.
func (r *nodeReplacement) promote(ctx context.Context, n *fleet.Node) error {
	if err := r.waitClient(ctx, func(t replication.Topology) bool {
		_, ok := t.Node(r.old)
		return !ok
	}); err != nil {
		r.steps.mark(fmt.Sprintf("%s still in the client's topology", r.old), err)
		return err
	}
	r.steps.mark(fmt.Sprintf("%s declared dead, gone from the client's topology", r.old), nil)

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := n.Admin().SetState(sctx, replication.Serving)
	cancel()
	r.steps.mark(fmt.Sprintf("%s promoted to serving", r.repl), err)
	if err != nil {
		return err
	}
	err = r.waitClient(ctx, func(t replication.Topology) bool {
		nd, ok := t.Node(r.repl)
		return ok && nd.EffectiveState() == replication.Serving
	})
	r.steps.mark(fmt.Sprintf("%s serving in the client's topology", r.repl), err)
	return err
}

// waitClient polls the client's topology until ok holds or stepTimeout passes.
func (r *nodeReplacement) waitClient(ctx context.Context, ok func(replication.Topology) bool) error {
	deadline := time.Now().Add(stepTimeout)
	for !ok(r.c.Topology()) {
		if time.Now().After(deadline) {
			return fmt.Errorf("not seen by the client within %v", stepTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// slowNodeEvents are the events of the slow-node scenario on proxy p in
// front of node id.
func slowNodeEvents(p *faultproxy.Proxy, id string, d time.Duration) []bench.Event {
	return []bench.Event{
		{At: d / 2, Label: fmt.Sprintf("%s slow: +%v per response chunk", id, slowDelay), Do: func(context.Context) error {
			p.SetDelay(slowDelay)
			return nil
		}},
		{At: d * 3 / 4, Label: fmt.Sprintf("%s hung: +%v per response chunk (beyond the timeout)", id, hungDelay), Do: func(context.Context) error {
			p.SetDelay(hungDelay)
			return nil
		}},
	}
}

// proxiedTopology is top with node id's address replaced by addr.
func proxiedTopology(top replication.Topology, id, addr string) replication.Topology {
	top.Nodes = slices.Clone(top.Nodes)
	for i := range top.Nodes {
		if top.Nodes[i].ID == id {
			top.Nodes[i].Addr = addr
		}
	}
	return top
}

// writeZoneSeries prints the per-second fallbacks and errors of each zone,
// with the events in time order: how reads move between zones around them.
func writeZoneSeries(w io.Writer, res *bench.Result) {
	var zones []string
	for _, p := range res.Series {
		for _, z := range p.Zones {
			if !slices.Contains(zones, z.Zone) {
				zones = append(zones, z.Zone)
			}
		}
	}
	if len(zones) == 0 {
		return
	}
	slices.Sort(zones)
	fmt.Fprintf(w, "\nper second, by zone (requests, fallbacks and errors per second):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "t\t")
	for _, z := range zones {
		fmt.Fprintf(tw, "%s req\t%s fallb\t%s err\t", z, z, z)
	}
	fmt.Fprintln(tw)
	ev := 0
	events := func(upTo time.Duration) {
		for ; ev < len(res.Events) && res.Events[ev].At <= upTo; ev++ {
			fmt.Fprintf(tw, "%.1fs\t%s  --- %s\n", res.Events[ev].At.Seconds(), strings.Repeat("\t", 3*len(zones)), res.Events[ev].Label)
		}
	}
	for _, p := range res.Series {
		events(p.T)
		fmt.Fprintf(tw, "%.1fs\t", p.T.Seconds())
		for _, name := range zones {
			var z bench.ZoneStats
			for _, s := range p.Zones {
				if s.Zone == name {
					z = s
				}
			}
			fmt.Fprintf(tw, "%.0f\t%.0f\t%.0f\t", perSec(z.Requests, p.Dur), perSec(z.Fallbacks, p.Dur), perSec(z.Errors, p.Dur))
		}
		fmt.Fprintln(tw)
	}
	events(time.Duration(1<<63 - 1))
	tw.Flush()
}

func perSec(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// watcher runs the discovery watch that keeps the client's topology
// current, and can restart it with other seeds.
type watcher struct {
	ctx    context.Context
	c      *client.Client
	logger *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// start (re)starts the watch on seeds, after the previous one has stopped.
func (w *watcher) start(seeds []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopLocked()
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan struct{})
	w.cancel, w.done = cancel, done
	go func() {
		defer close(done)
		_ = discovery.Watch(ctx, discovery.Config{Seeds: seeds, Wait: 5 * time.Second, Logger: w.logger},
			w.c.Topology(), w.c.SetTopology)
	}()
}

// stop stops the watch and waits for it.
func (w *watcher) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopLocked()
}

func (w *watcher) stopLocked() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
		w.cancel, w.done = nil, nil
	}
}
