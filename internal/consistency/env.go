package consistency

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/replication"
)

// Zones are the zones of every fleet the checker starts; the writer lives
// in the first.
var Zones = []string{"a", "b", "c"}

// env is one fault's fleet and the clients working on it.
type env struct {
	cfg    RunConfig
	fleet  *fleet.Fleet
	netns  *Netns // nil unless zone c is in a namespace
	gossip bool
	// follow: clients discover and follow the gossiped topology; off, they
	// get the fleet as started (a static topology): on stock memcached,
	// for the zone cut (as in the issue it reproduces, and so that it does
	// not turn into the gossip partition) and through fault proxies.
	follow bool
	quiet  *slog.Logger

	mu      sync.Mutex
	clients []*followed // every client made, closed at the end
}

// followed is a client and, on a gossiping fleet, the discovery watch that
// keeps its topology current.
type followed struct {
	c      *client.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func (f *followed) close() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
	_ = f.c.Close()
}

// startEnv starts the fleet of cfg.Server, zone c in a fresh namespace
// when withNetns.
func startEnv(ctx context.Context, cfg RunConfig, withNetns, static bool) (*env, error) {
	e := &env{cfg: cfg, gossip: cfg.Server == Zonecached, follow: cfg.Server == Zonecached && !static, quiet: slog.New(slog.NewTextHandler(io.Discard, nil))}
	fc := fleet.Config{Binary: cfg.Zonecached, Gossip: e.gossip, DrainTimeout: 2 * time.Second, Output: cfg.NodeLog}
	if cfg.Server == Memcached {
		fc.Binary, fc.Memcached = cfg.Memcached, true
	}
	if withNetns {
		ns, err := NewNetns(ctx)
		if err != nil {
			return nil, err
		}
		e.netns = ns
		fc.Host = ns.HostAddr
		fc.ZoneHosts = map[string]string{"c": ns.NsAddr}
		fc.ZoneWrap = map[string][]string{"c": ns.Wrap()}
	}
	f, err := fleet.Start(ctx, fc)
	if err != nil {
		e.close()
		return nil, err
	}
	e.fleet = f
	if e.gossip {
		if _, err := e.fetch(ctx, "a", len(f.Nodes())); err != nil {
			e.close()
			return nil, fmt.Errorf("the fleet did not converge: %w", err)
		}
	}
	return e, nil
}

func (e *env) close() {
	e.mu.Lock()
	cs := e.clients
	e.clients = nil
	e.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
	if e.fleet != nil {
		e.fleet.Stop()
	}
	if e.netns != nil {
		e.netns.Close()
	}
}

// seeds are the admin addresses of the running nodes, zone's first: a
// client bootstraps from its own zone's nodes before the others'.
func (e *env) seeds(zone string) []string {
	var own, other []string
	for _, n := range e.fleet.Nodes() {
		switch {
		case !n.Running():
		case n.Zone == zone:
			own = append(own, n.AdminAddr)
		default:
			other = append(other, n.AdminAddr)
		}
	}
	return append(own, other...)
}

// fetch asks zone's seeds for the topology until it lists want nodes
// (want 0: any answer) or 30 s pass.
func (e *env) fetch(ctx context.Context, zone string, want int) (replication.Topology, error) {
	return fleet.WaitTopology(ctx, discovery.Config{Seeds: e.seeds(zone), Logger: e.quiet}, want, 30*time.Second)
}

// newClient makes a client living in zone: on a gossiping fleet it
// bootstraps from zone's seeds first and follows the topology; on a
// static one it gets the fleet as started. tweak, if not nil, adjusts the
// configuration.
func (e *env) newClient(ctx context.Context, zone string, tweak func(*client.Config)) (*client.Client, error) {
	cfg := client.Config{Zone: zone, Logger: e.quiet, WritePolicy: e.cfg.Policy}
	f := &followed{}
	if e.follow {
		top, err := e.fetch(ctx, zone, 0)
		if err != nil {
			return nil, err
		}
		cfg.Topology = top
	} else {
		cfg.Topology = e.fleet.Topology()
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	f.c = c
	if e.follow {
		wctx, cancel := context.WithCancel(context.Background())
		f.cancel, f.done = cancel, make(chan struct{})
		dcfg := discovery.Config{Seeds: e.seeds(zone), Wait: 5 * time.Second, Logger: e.quiet}
		go func() {
			defer close(f.done)
			_ = discovery.Watch(wctx, dcfg, cfg.Topology, c.SetTopology)
		}()
	}
	e.mu.Lock()
	e.clients = append(e.clients, f)
	e.mu.Unlock()
	return c, nil
}

// node returns the fleet's node id.
func (e *env) node(id string) *fleet.Node {
	i := slices.IndexFunc(e.fleet.Nodes(), func(n *fleet.Node) bool { return n.ID == id })
	if i < 0 {
		return nil
	}
	return e.fleet.Nodes()[i]
}

// waitTopology polls c's topology until ok holds or within passes; it
// returns how long that took.
func waitTopology(ctx context.Context, c *client.Client, within time.Duration, ok func(replication.Topology) bool) (time.Duration, error) {
	start := time.Now()
	for !ok(c.Topology()) {
		if time.Since(start) > within {
			return time.Since(start), fmt.Errorf("not in the client's topology within %v", within)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return time.Since(start), nil
}

// hasNode says whether a topology lists node id in a state that serves reads.
func hasNode(id string) func(replication.Topology) bool {
	return func(t replication.Topology) bool {
		n, ok := t.Node(id)
		return ok && n.EffectiveState().ServesReads()
	}
}

// fetchFrom asks one node for its view of the fleet.
func (e *env) fetchFrom(ctx context.Context, adminAddr string) (replication.Topology, error) {
	return discovery.Fetch(ctx, discovery.Config{Seeds: []string{adminAddr}, Logger: e.quiet, RequestTimeout: 2 * time.Second})
}
