package membership

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/replication"
)

// ErrJoin is wrapped by Start's error when none of the seeds could be joined.
var ErrJoin = errors.New("membership: could not join any seed")

// Config configures a Member. Zero fields take the defaults documented on
// each; Zone and CacheAddr are required.
type Config struct {
	// NodeName names the member uniquely in the fleet. Default: the cache
	// address.
	NodeName string
	// Zone is the member's availability zone. Required.
	Zone string
	// CacheAddr is the host:port clients use to reach the member's cache.
	// Required.
	CacheAddr string
	// Weight scales the member's share of its zone's keys. Default 1.
	Weight int
	// NextWeight is the next weight the member starts with (see
	// SetWeight). Default 0: none.
	NextWeight int
	// SaveWeights, when set, is called by SetWeight with the new weights
	// before they are advertised; an error leaves them unchanged. It lets
	// a node keep weights changed at runtime across a restart
	// (zonecached --weight-file). Default nil.
	SaveWeights func(weight, next int) error
	// State is the state the member starts in. Default warming: a new node
	// takes writes and serves no reads until it is promoted.
	State replication.NodeState
	// BindAddr is the gossip address (UDP and TCP). Default 127.0.0.1.
	BindAddr string
	// BindPort is the gossip port. 0 picks a free port (see GossipAddr).
	BindPort int
	// Join lists seed members' gossip addresses, host:port. Start joins
	// them; afterwards, every RejoinInterval, the member joins again those
	// that are not members in its topology (see RequireJoin).
	Join []string
	// RequireJoin makes Start fail with ErrJoin when Join is set and no
	// seed answers. Default false: the member starts alone and keeps
	// joining the seeds every RejoinInterval until one answers.
	RequireJoin bool
	// RejoinInterval is how often the member joins again the seeds and the
	// known members that failed, so that the fleet merges again after a
	// partition (see rejoinLoop for the bound). Default
	// DefaultRejoinInterval (5 s). Each wait is drawn from half to all of
	// it (equal jitter), so members cut off together do not rejoin in step.
	RejoinInterval time.Duration
	// ForgetAfter is how long a member that failed (not one that left
	// draining) is remembered: rejoined every RejoinInterval and counted
	// among the known members when this one decides whether it is cut
	// off from most of the fleet. Default DefaultForgetAfter (1 h).
	ForgetAfter time.Duration
	// Fence, when set, is told when this member may have missed writes:
	// cut off from most of the known members for longer than PauseBound,
	// or declared dead by the fleet. Default nil.
	Fence Fence
	// SecretKey, 16, 24 or 32 bytes, encrypts gossip with AES-GCM; it is
	// the first key of the member's keyring (see InstallKey). Nil leaves
	// gossip unencrypted.
	SecretKey []byte
	// Label names the cluster; members with different labels never talk.
	// Default "zonecache".
	Label string
	// Profile picks memberlist's timing preset: "lan" (default), "local"
	// (fast failure detection, for one host) or "wan". FailureDetectionTime
	// says how long the fleet takes to declare a dead member under it.
	Profile string
	// ProbeInterval, when set, overrides the preset's failure-probe interval
	// (and caps its probe timeout at half of it); failure detection scales
	// with it (see FailureDetectionTime).
	ProbeInterval time.Duration
	// Logger receives the member's logs, memberlist's lines included at
	// their level. Default slog.Default().
	Logger *slog.Logger
	// Registerer, if not nil, receives the member's Prometheus metrics
	// (zonecache_membership_*), registered by Start.
	Registerer prometheus.Registerer
}

// Member is this server's membership in the fleet.
type Member struct {
	cfg  Config
	log  *slog.Logger
	list *memberlist.Memberlist
	// keyring holds the gossip keys (nil: gossip unencrypted).
	keyring *memberlist.Keyring

	// weightMu orders SetWeight calls, so that the weights saved are
	// those advertised.
	weightMu sync.Mutex

	// eventsMu orders memberlist's notifications and the end of a hold
	// (hold.go), so that a member coming back is never dropped after.
	eventsMu sync.Mutex

	mu      sync.Mutex
	self    nodeMeta
	peers   map[string]replication.Node // other members, copied from events
	left    bool                        // Leave or Shutdown was called
	epoch   uint64
	changed chan struct{} // closed and replaced on every change

	health  *health // contact with the other members, rejoins
	metrics *metrics
}

// Start creates the member, starts gossiping and joins the seeds, if any.
// When seeds are given and none answers, the member starts alone and
// keeps joining them in the background, unless RequireJoin is set: then
// it returns an error wrapping ErrJoin and the member is shut down; so it
// is, with ctx's error, when ctx ends before the join does.
func Start(ctx context.Context, cfg Config) (*Member, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMember(cfg)
	if err != nil {
		return nil, err
	}
	mc, err := m.memberlistConfig()
	if err != nil {
		return nil, err
	}
	list, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start gossip on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	m.list = list
	m.keyring = mc.Keyring // made by Create from SecretKey
	if len(cfg.Join) > 0 {
		if err := m.joinSeeds(ctx); err != nil {
			_ = list.Shutdown()
			return nil, err
		}
	}
	if err := m.metrics.register(cfg.Registerer); err != nil {
		_ = list.Shutdown()
		return nil, fmt.Errorf("membership: register metrics: %w", err)
	}
	m.health.loops.Add(2)
	go m.health.contactLoop()
	go m.rejoinLoop()
	return m, nil
}

// withDefaults checks cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Zone == "" || cfg.CacheAddr == "" {
		return cfg, errors.New("membership: Zone and CacheAddr are required")
	}
	if cfg.NodeName == "" {
		cfg.NodeName = cfg.CacheAddr
	}
	if cfg.State == "" {
		cfg.State = replication.Warming
	}
	if !cfg.State.Valid() {
		return cfg, fmt.Errorf("membership: unknown state %q", cfg.State)
	}
	if _, _, err := net.SplitHostPort(cfg.CacheAddr); err != nil {
		return cfg, fmt.Errorf("membership: cache address: %w", err)
	}
	if cfg.Weight < 0 || cfg.NextWeight < 0 {
		// A topology holding it would fail validation on every client.
		return cfg, fmt.Errorf("membership: negative weight %d or next weight %d", cfg.Weight, cfg.NextWeight)
	}
	cfg.BindAddr = cmp.Or(cfg.BindAddr, "127.0.0.1")
	cfg.Label = cmp.Or(cfg.Label, "zonecache")
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RejoinInterval <= 0 {
		cfg.RejoinInterval = DefaultRejoinInterval
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = DefaultForgetAfter
	}
	return cfg, nil
}

// newMember builds the member of cfg (checked, with defaults), before it
// gossips.
func newMember(cfg Config) (*Member, error) {
	bound, err := PauseBound(cfg)
	if err != nil {
		return nil, err
	}
	m := &Member{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "membership", "node", cfg.NodeName),
		self:    nodeMeta{Zone: cfg.Zone, Addr: cfg.CacheAddr, Weight: cfg.Weight, NextWeight: cfg.NextWeight, State: cfg.State},
		peers:   make(map[string]replication.Node),
		changed: make(chan struct{}),
	}
	if _, err := m.self.encode(); err != nil {
		return nil, err
	}
	m.bump()
	m.health = newHealth(m, bound)
	m.metrics = newMetrics(m)
	return m, nil
}

// joinSeeds joins the Join seeds. When none answers it logs and returns
// nil (the rejoin loop keeps trying), unless RequireJoin is set; it
// returns ctx's error if ctx ends first.
func (m *Member) joinSeeds(ctx context.Context) error {
	// Join takes no context and may wait a TCP timeout per seed; it runs
	// aside so that ctx can end the wait (the join then finishes against a
	// member already shut down).
	type joined struct {
		n   int
		err error
	}
	res := make(chan joined, 1)
	go func() {
		n, err := m.list.Join(m.cfg.Join)
		res <- joined{n, err}
	}()
	var r joined
	select {
	case r = <-res:
	case <-ctx.Done():
		return fmt.Errorf("membership: join %v: %w", m.cfg.Join, ctx.Err())
	}
	switch {
	case r.n == 0 && m.cfg.RequireJoin:
		return fmt.Errorf("%w %v: %v", ErrJoin, m.cfg.Join, r.err)
	case r.n == 0:
		m.log.Warn("no seed answered; starting alone and joining again every rejoin interval",
			"seeds", m.cfg.Join, "err", r.err, "rejoin_interval", m.cfg.RejoinInterval)
	default:
		m.log.Info("joined fleet", "seeds_answered", r.n, "members", m.list.NumMembers())
	}
	return nil
}

func (m *Member) memberlistConfig() (*memberlist.Config, error) {
	mc, err := timings(m.cfg.Profile, m.cfg.ProbeInterval)
	if err != nil {
		return nil, err
	}
	mc.Name = m.cfg.NodeName
	mc.BindAddr = m.cfg.BindAddr
	mc.BindPort = m.cfg.BindPort
	mc.AdvertisePort = m.cfg.BindPort
	mc.Label = m.cfg.Label
	mc.SecretKey = m.cfg.SecretKey
	mc.Delegate = delegate{m}
	mc.Events = events{m}
	mc.Logger = m.logSink()
	// A node that failed may come back under its name from a new address
	// without waiting for the dead-node timeout.
	mc.DeadNodeReclaimTime = 30 * time.Second
	return mc, nil
}

// Name is the member's node name: its id in the topology.
func (m *Member) Name() string { return m.cfg.NodeName }

// GossipAddr is the address other members join this one at.
func (m *Member) GossipAddr() string {
	n := m.list.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// State returns the state this member advertises.
func (m *Member) State() replication.NodeState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self.State
}

// SetState changes the state this member advertises and gossips it,
// waiting until the update is sent or ctx's deadline passes (5 s when ctx
// has none; a cancellation without a deadline does not cut the wait short).
func (m *Member) SetState(ctx context.Context, s replication.NodeState) error {
	if !s.Valid() {
		return fmt.Errorf("membership: unknown state %q", s)
	}
	m.mu.Lock()
	m.self.State = s
	m.mu.Unlock()
	if err := m.advertise(ctx); err != nil {
		return fmt.Errorf("membership: advertise state %s: %w", s, err)
	}
	m.log.Info("state changed", "state", s)
	return nil
}

// SetWeight changes the weight this member advertises and the next weight
// a reshard moves it to (0: none; clients place writes with it, reads with
// weight), saves them (Config.SaveWeights) and gossips them as SetState
// does.
func (m *Member) SetWeight(ctx context.Context, weight, next int) error {
	if weight < 0 || next < 0 {
		return fmt.Errorf("membership: negative weight %d or next weight %d", weight, next)
	}
	m.weightMu.Lock()
	defer m.weightMu.Unlock()
	if save := m.cfg.SaveWeights; save != nil {
		if err := save(weight, next); err != nil {
			return fmt.Errorf("membership: save weight %d (next %d): %w", weight, next, err)
		}
	}
	m.mu.Lock()
	m.self.Weight, m.self.NextWeight = weight, next
	m.mu.Unlock()
	if err := m.advertise(ctx); err != nil {
		return fmt.Errorf("membership: advertise weight %d (next %d): %w", weight, next, err)
	}
	m.log.Info("weight changed", "weight", weight, "next_weight", next)
	return nil
}

// advertise gossips this member's metadata, waiting until the update is
// sent or ctx's deadline passes (5 s when ctx has none).
func (m *Member) advertise(ctx context.Context) error {
	m.bump()
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	// memberlist waits without limit for a timeout that is not positive: a
	// deadline already passed still queues the update, then fails at once.
	if err := m.list.UpdateNode(max(timeout, time.Nanosecond)); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return err
	}
	return nil
}

// Topology returns the fleet as this member sees it now: itself and every
// other member that is alive or suspected, with the metadata it advertises.
// It is built from copies taken in memberlist's event callbacks: the nodes
// memberlist's Members returns are mutated by its gossip goroutines.
func (m *Member) Topology() replication.Topology {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := replication.Topology{Epoch: m.epoch, Nodes: make([]replication.Node, 0, len(m.peers)+1)}
	t.Nodes = append(t.Nodes, replication.Node{
		ID: m.cfg.NodeName, Zone: m.self.Zone, Addr: m.self.Addr, Weight: m.self.Weight, State: m.self.State, NextWeight: m.self.NextWeight,
	})
	for _, n := range m.peers {
		t.Nodes = append(t.Nodes, n)
	}
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].ID < t.Nodes[j].ID })
	return t
}

// observe records another member's advertised metadata (join or update).
func (m *Member) observe(n *memberlist.Node) {
	if n.Name == m.cfg.NodeName {
		return
	}
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		m.log.Warn("ignoring member with bad metadata", "member", n.Name, "err", err)
		return
	}
	m.mu.Lock()
	m.peers[n.Name] = replication.Node{ID: n.Name, Zone: meta.Zone, Addr: meta.Addr, Weight: meta.Weight, State: meta.State, NextWeight: meta.NextWeight}
	m.mu.Unlock()
	m.bump()
}

// forget drops a member that left or was declared dead.
func (m *Member) forget(name string) {
	m.mu.Lock()
	_, known := m.peers[name]
	delete(m.peers, name)
	m.mu.Unlock()
	if known {
		m.bump()
	}
}

// Changed returns a channel that is closed at the next change of the
// topology; call it again after each change.
func (m *Member) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Leave tells the fleet this member is leaving, waiting up to timeout for
// the message to spread, then stops gossip.
func (m *Member) Leave(timeout time.Duration) error {
	m.health.farewell()
	m.markLeft()
	err := m.list.Leave(timeout)
	if serr := m.list.Shutdown(); err == nil {
		err = serr
	}
	return err
}

// Shutdown stops gossip without telling the fleet, as a crash would.
func (m *Member) Shutdown() error {
	m.markLeft()
	return m.list.Shutdown()
}

// markLeft records that this member is no longer part of the fleet, so
// that it stops answering for the fleet's topology, and wakes watchers.
func (m *Member) markLeft() {
	m.health.close()
	m.mu.Lock()
	m.left = true
	m.mu.Unlock()
	m.bump()
}

// Left reports whether Leave or Shutdown was called.
func (m *Member) Left() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.left
}

// bump records a change: the epoch grows and watchers wake.
func (m *Member) bump() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := uint64(time.Now().UnixNano())
	if now <= m.epoch {
		now = m.epoch + 1
	}
	m.epoch = now
	close(m.changed)
	m.changed = make(chan struct{})
}

// delegate answers memberlist's questions about this member.
type delegate struct{ m *Member }

func (d delegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	self := d.m.self
	d.m.mu.Unlock()
	b, err := self.encode()
	if err != nil || len(b) > limit {
		d.m.log.Error("node metadata does not fit", "err", err, "limit", limit)
		return nil
	}
	return b
}
func (d delegate) NotifyMsg(b []byte)                       { d.m.health.heard(b) }
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

// events turns memberlist's notifications into topology changes.
type events struct{ m *Member }

func (e events) NotifyJoin(n *memberlist.Node) {
	e.m.eventsMu.Lock()
	defer e.m.eventsMu.Unlock()
	if e.m.health.heldNow(n.Name) {
		e.m.log.Info("member held after a failure refuted it", "member", n.Name)
	} else {
		e.m.log.Info("member joined", "member", n.Name)
	}
	e.m.health.alive(n)
	e.m.observe(n)
}

// NotifyLeave drops the member from the topology, unless it failed while
// this member still hears from it (see health.holdIfInContact).
func (e events) NotifyLeave(n *memberlist.Node) {
	e.m.eventsMu.Lock()
	defer e.m.eventsMu.Unlock()
	e.m.mu.Lock()
	last := e.m.peers[n.Name].State
	e.m.mu.Unlock()
	if last != replication.Draining && e.m.health.holdIfInContact(n.Name, time.Now()) {
		e.m.log.Info("member declared failed while this one still hears from it: kept in the topology until it refutes or falls silent", "member", n.Name, "for_at_most", e.m.health.holdMax())
		return
	}
	e.m.drop(n.Name)
}

func (e events) NotifyUpdate(n *memberlist.Node) {
	e.m.eventsMu.Lock()
	defer e.m.eventsMu.Unlock()
	e.m.health.alive(n)
	e.m.observe(n)
}

// drop removes a member that left or failed from the topology;
// m.eventsMu is held.
func (m *Member) drop(name string) {
	m.log.Info("member left or failed", "member", name)
	m.mu.Lock()
	last := m.peers[name].State
	m.mu.Unlock()
	m.health.gone(name, last)
	m.forget(name)
}
