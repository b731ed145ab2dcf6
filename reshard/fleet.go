package reshard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/replication"
)

// Fleet is how a reshard reads the topology clients use and changes it.
// GossipFleet and StaticFleet are the two kinds zonecache has; operators'
// tooling may bring its own.
type Fleet interface {
	// Topology returns the fleet as clients are told it now.
	Topology(ctx context.Context) (replication.Topology, error)
	// Check refuses, before anything changes, a reshard from cur through
	// mid to tgt that the fleet cannot carry out, saying what to do.
	Check(ctx context.Context, cur, mid, tgt replication.Topology) error
	// Apply tells clients to use t (at step StepIntermediate, StepSwitch
	// or StepCutover) and returns once every source clients learn the
	// topology from shows it; the clients' own lag is RunConfig.ViewLag's.
	// say tells the operator what happens and what to do.
	Apply(ctx context.Context, step Step, t replication.Topology, say func(string)) error
}

// poll is the interval between looks at the seeds, seedTimeout the bound
// on one look.
const poll, seedTimeout = 100 * time.Millisecond, 5 * time.Second

// GossipFleet is a fleet of gossiping zonecached nodes: the topology is
// what the seeds serve, and nodes change state and weights through their
// admin endpoint (warming nodes promoted, leaving ones set draining, a
// reweighted node given its next weight).
type GossipFleet struct {
	// Seeds are admin addresses serving /topology; every one that answers
	// must show a change before it counts as applied. Required.
	Seeds []string
	// Admin maps node ids to their admin address; required for every
	// node whose state or weight a reshard changes (added, removed and
	// reweighted nodes), unless one of Seeds is its admin address (it
	// answers GET /node with the node's id).
	Admin map[string]string
	// AdminToken is sent to the Admin addresses as their bearer token
	// (admin.Client.Token): nodes started with --admin-token-file want it.
	AdminToken string
	// Stop, when set, stops a node that leaves at the cutover (the node's
	// SIGTERM: it leaves the fleet, then drains). The nodes that leave
	// together are stopped at once: Stop must be safe for concurrent use.
	// When nil the operator is asked to, and Apply waits until the fleet
	// drops the node.
	Stop func(ctx context.Context, n replication.Node) error

	mu     sync.Mutex
	seedOf map[string]string // node id -> the seed that is its admin address
}

// AdminAddr returns the admin address of node id: Admin's, or else the
// seed that answers GET /node with id; "" when neither.
func (g *GossipFleet) AdminAddr(ctx context.Context, id string) string {
	if a := g.Admin[id]; a != "" {
		return a
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seedOf == nil {
		g.seedOf = map[string]string{}
		for _, s := range g.Seeds {
			rctx, cancel := context.WithTimeout(ctx, seedTimeout)
			if name, err := admin.New(s).NodeID(rctx); err == nil {
				g.seedOf[name] = s
			}
			cancel()
		}
	}
	return g.seedOf[id]
}

// noAdmin is the refusal of a change of node n, which has no admin
// address.
func noAdmin(n replication.Node) error {
	return fmt.Errorf("%w: node %s is to be %s with weight %d (next %d) and has no admin address: give it (--admin %s=HOST:PORT), or list it in the seeds",
		ErrConfig, n.ID, n.EffectiveState(), n.EffectiveWeight(), n.NextWeight, n.ID)
}

// Topology returns the largest view among the seeds (discovery.Fetch).
func (g *GossipFleet) Topology(ctx context.Context) (replication.Topology, error) {
	return discovery.Fetch(ctx, discovery.Config{Seeds: g.Seeds})
}

// Check refuses a node tgt adds that is not in the fleet yet (it must be
// started warming first), and a node whose state or weight the
// intermediate changes with no admin address (those the switch and the
// cutover change are refused by Apply).
func (g *GossipFleet) Check(ctx context.Context, cur, mid, tgt replication.Topology) error {
	for _, n := range tgt.Nodes {
		if _, ok := cur.Node(n.ID); !ok {
			return fmt.Errorf("%w: node %s is not in the fleet: start it warming (zonecached --zone %s --node-name %s --state warming --join ...), then run the reshard again",
				ErrConfig, n.ID, n.Zone, n.ID)
		}
	}
	for _, n := range cur.Nodes {
		if m, _ := mid.Node(n.ID); Changes(n, m) && g.AdminAddr(ctx, n.ID) == "" {
			return noAdmin(m)
		}
	}
	return nil
}

// Changes reports whether a node moves from was to now in state or in
// weights: what GossipFleet changes through the node's admin endpoint.
func Changes(was, now replication.Node) bool {
	return was.EffectiveState() != now.EffectiveState() || was.EffectiveWeight() != now.EffectiveWeight() || was.NextWeight != now.NextWeight
}

// Apply moves each node of t to its state there through its admin
// endpoint, then stops (or asks the operator to stop) the nodes t does not
// list, and waits until every seed shows t.
func (g *GossipFleet) Apply(ctx context.Context, _ Step, t replication.Topology, say func(string)) error {
	cur, err := g.Topology(ctx)
	if err != nil {
		return err
	}
	if err := g.setStates(ctx, cur, t, say); err != nil {
		return err
	}
	if err := g.stopLeaving(ctx, cur, t, say); err != nil {
		return err
	}
	return g.wait(ctx, t, say)
}

// stopLeaving stops the nodes of cur that t leaves out, all at once (each
// drains for its own drain timeout, so one after the other a zone's
// removal took as many drains), or asks the operator to when Stop is nil.
func (g *GossipFleet) stopLeaving(ctx context.Context, cur, t replication.Topology, say func(string)) error {
	var leaving []replication.Node
	for _, n := range cur.Nodes {
		if _, kept := t.Node(n.ID); kept {
			continue
		}
		if g.Stop == nil {
			say(fmt.Sprintf("stop %s (%s) now (SIGTERM: it leaves the fleet, then drains); waiting until the fleet drops it", n.ID, n.Addr))
			continue
		}
		leaving = append(leaving, n)
	}
	return atOnce(leaving, say, func(n replication.Node, say func(string)) error {
		if err := g.Stop(ctx, n); err != nil {
			return fmt.Errorf("reshard: stop %s: %w", n.ID, err)
		}
		say(fmt.Sprintf("%s (%s) stopped", n.ID, n.Addr))
		return nil
	})
}

// atOnce calls fn for every item at the same time and joins their errors;
// the say each call is given passes its lines on to say one at a time.
func atOnce[T any](items []T, say func(string), fn func(item T, say func(string)) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	locked := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		say(s)
	}
	for _, it := range items {
		wg.Go(func() {
			if err := fn(it, locked); err != nil {
				mu.Lock()
				defer mu.Unlock()
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// setStates moves each node of t whose state or weights in cur differ to
// those in t: weights first, then the state. It checks every node before
// it changes any, so a refusal changes nothing, and then changes the nodes
// all at once. Each node's change reaches clients through gossip on its
// own, so they may see the changes of one step in any order, whatever the
// order they are made in (every order is a view the step's invariants
// must hold in): one after the other they only kept clients longer in the
// views between. Adding zone d promoted d-1, then d-2 0.3 s later, and
// the clients that saw d-1 serving alone sent their writes of d-2's keys
// a needless delete at d-1 for Config.FormerOwnerWindow.
func (g *GossipFleet) setStates(ctx context.Context, cur, t replication.Topology, say func(string)) error {
	type change struct {
		was, now replication.Node
		addr     string
	}
	var changes []change
	for _, n := range t.Nodes {
		was, ok := cur.Node(n.ID)
		switch {
		case !ok:
			return fmt.Errorf("%w: node %s left the fleet: start it again, then resume", ErrUnsettled, n.ID)
		case !Changes(was, n):
			continue
		}
		addr := g.AdminAddr(ctx, n.ID)
		if addr == "" {
			return noAdmin(n)
		}
		changes = append(changes, change{was, n, addr})
	}
	return atOnce(changes, say, func(c change, say func(string)) error {
		return g.setState(ctx, c.addr, c.was, c.now, say)
	})
}

// setState moves one node, whose admin endpoint is at addr, from was to
// n: its weights first, then its state.
func (g *GossipFleet) setState(ctx context.Context, addr string, was, n replication.Node, say func(string)) error {
	node := &admin.Client{Addr: addr, Token: g.AdminToken}
	if was.EffectiveWeight() != n.EffectiveWeight() || was.NextWeight != n.NextWeight {
		if err := node.SetWeight(ctx, n.EffectiveWeight(), n.NextWeight); err != nil {
			return fmt.Errorf("reshard: set the weight of %s: %w", n.ID, err)
		}
		say(fmt.Sprintf("%s (%s) has weight %d, next %d", n.ID, n.Addr, n.EffectiveWeight(), n.NextWeight))
	}
	if was.EffectiveState() != n.EffectiveState() {
		if _, err := node.SetState(ctx, n.EffectiveState()); err != nil {
			return fmt.Errorf("reshard: set %s %s: %w", n.ID, n.EffectiveState(), err)
		}
		say(fmt.Sprintf("%s (%s) is %s", n.ID, n.Addr, n.EffectiveState()))
	}
	return nil
}

// wait polls the seeds until every seed that answers shows t's nodes,
// and one at least answers: a seed that does not answer (a node that left
// or stopped) serves no view to clients either.
func (g *GossipFleet) wait(ctx context.Context, t replication.Topology, say func(string)) error {
	for {
		behind, answered := "", 0
		for _, s := range g.Seeds {
			rctx, cancel := context.WithTimeout(ctx, seedTimeout)
			v, err := admin.New(s).Topology(rctx)
			cancel()
			if err != nil {
				continue
			}
			answered++
			if !SameNodes(v, t) {
				behind = s
				break
			}
		}
		if behind == "" && answered > 0 {
			say("every seed shows it")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("reshard: seed %q does not show the topology yet (%d answered): %w", behind, answered, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// StaticFleet is a fleet whose clients load a topology the operator
// gives them (stock memcached, zonecached without gossip): Write publishes
// one, for example as the file the clients load.
type StaticFleet struct {
	// Current is the topology the clients use now. Required.
	Current replication.Topology
	// Write publishes t, the topology of step (StepIntermediate,
	// StepSwitch or StepCutover), to the clients.
	Write func(ctx context.Context, step Step, t replication.Topology) error
}

// Topology returns Current.
func (s *StaticFleet) Topology(context.Context) (replication.Topology, error) {
	return s.Current, nil
}

// Check refuses nothing: clients load whatever topology is written.
func (s *StaticFleet) Check(context.Context, replication.Topology, replication.Topology, replication.Topology) error {
	return nil
}

// Apply writes t; the clients' lag to load it is RunConfig.ViewLag's.
func (s *StaticFleet) Apply(ctx context.Context, step Step, t replication.Topology, say func(string)) error {
	if s.Write == nil {
		return fmt.Errorf("%w: no way to publish the topology of step %v", ErrConfig, step)
	}
	if err := s.Write(ctx, step, t); err != nil {
		return fmt.Errorf("reshard: publish the topology of step %v: %w", step, err)
	}
	say("topology written: the clients load it now")
	return nil
}

// SameNodes reports whether a and b list the same nodes, each with the
// same zone, address, weights and state: the same rings. Epochs are not
// compared (a gossiping fleet's are its own).
func SameNodes(a, b replication.Topology) bool {
	key := func(t replication.Topology) []string {
		out := make([]string, len(t.Nodes))
		for i, n := range t.Nodes {
			out[i] = fmt.Sprintf("%s/%s/%s/%d/%d/%s", n.ID, n.Zone, n.Addr, n.EffectiveWeight(), n.WriteWeight(), n.EffectiveState())
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}
