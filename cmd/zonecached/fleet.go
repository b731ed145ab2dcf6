package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/membership"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/server"
)

// fleetOptions are the flags that make a node part of a gossiping fleet.
// Without --zone the node runs standalone, like memcached.
type fleetOptions struct {
	zone         string
	nodeName     string
	gossipAddr   string
	join         string
	keyFile      string
	insecure     bool
	label        string
	state        string
	profile      string
	probe        time.Duration
	advertise    string
	drainTimeout time.Duration
	rejoin       time.Duration
	requireJoin  bool
	forgetAfter  time.Duration
	quarantine   time.Duration
	weight       int
	weightSet    bool // --weight was given
	weightFile   string
}

// ErrGossipKeyRequired is the error of a fleet node started with
// neither --gossip-key-file nor --gossip-insecure: unencrypted gossip
// lets anyone who reaches the gossip port add nodes to the topology.
var ErrGossipKeyRequired = errors.New("a fleet node needs --gossip-key-file (or --gossip-insecure to gossip in clear text, for tests)")

// ErrWildcardListen is wrapped by the flag check's error when a fleet node
// would listen on all interfaces without saying which address to advertise.
var ErrWildcardListen = errors.New("a fleet node listening on all interfaces needs --advertise-addr")

func (f *fleetOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&f.zone, "zone", "", "availability `zone` of this node; setting it joins the node to a gossiping fleet (empty: standalone)")
	fs.StringVar(&f.nodeName, "node-name", "", "unique `name` of this node in the fleet (default: its cache address)")
	fs.StringVar(&f.gossipAddr, "gossip-addr", "127.0.0.1:7946", "gossip `address` (UDP and TCP); port 0 picks a free port")
	fs.StringVar(&f.join, "join", "", "comma-separated gossip `addresses` of fleet members to join")
	fs.StringVar(&f.keyFile, "gossip-key-file", "", "`file` (mode 0600 or stricter) holding the fleet's gossip encryption key: 16, 24 or 32 bytes, raw or base64; required with --zone unless --gossip-insecure")
	fs.BoolVar(&f.insecure, "gossip-insecure", false, "let a fleet node gossip unencrypted, without --gossip-key-file: anyone who reaches the gossip port can then join and steer keys (tests only)")
	fs.StringVar(&f.label, "cluster-label", "zonecache", "cluster `label`; nodes with different labels never merge")
	fs.StringVar(&f.state, "state", "serving", "`state` to start in: serving, or warming (takes writes, serves no reads until promoted) for a node added to a fleet that holds data to warm it from")
	fs.StringVar(&f.profile, "gossip-profile", "lan", "gossip timing `preset`: lan, local (fast failure detection on one host) or wan")
	fs.DurationVar(&f.probe, "gossip-probe-interval", 0, "failure-probe `interval`, overriding the preset's (lan and local 1s, wan 5s); a dead node is declared after a few of them (membership.FailureDetectionTime)")
	fs.StringVar(&f.advertise, "advertise-addr", "", "cache `address` (host or host:port; port default -p) advertised to the fleet; required when -l listens on all interfaces")
	fs.DurationVar(&f.rejoin, "rejoin-interval", membership.DefaultRejoinInterval, "how often to join again the --join seeds and the failed members still remembered, so the fleet merges again after a partition")
	fs.BoolVar(&f.requireJoin, "require-join", false, "exit at start when no --join seed answers (default: start alone and keep joining them every --rejoin-interval)")
	fs.DurationVar(&f.forgetAfter, "forget-failed-after", membership.DefaultForgetAfter, "how long a member that failed (did not leave draining) is remembered: rejoined, and counted when deciding whether this node is cut off from most of the fleet")
	fs.DurationVar(&f.quarantine, "rejoin-quarantine", server.DefaultRejoinQuarantine, "after the store is invalidated because the node may have been out of the fleet (a pause, an isolation, a refuted death), serve no hits for this `duration` while taking writes, so that writers still cut off from it repair it first; 0 turns it off")
	fs.IntVar(&f.weight, "weight", 1, "`weight` of this node in its zone's ring at start (a node of weight 2 owns twice the keys of one of weight 1); with --weight-file, the weight kept there wins, and a different --weight is refused")
	fs.StringVar(&f.weightFile, "weight-file", "", "`file` where the node keeps the weights set at runtime (POST /weight, zonecache reshard --weight), written at every change and read at start, so that a restart keeps them without editing --weight")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Second, "on SIGTERM, how long to wait for clients to move their reads away before stopping")
}

// validate checks the fleet flags; listen is the cache listen address
// (host:port).
func (f fleetOptions) validate(listen string) error {
	if err := f.checkWeight(); err != nil {
		return err
	}
	if f.zone == "" {
		return nil
	}
	if _, err := f.advertised(listen); err != nil {
		return err
	}
	if f.probe < 0 {
		return fmt.Errorf("--gossip-probe-interval %v: must not be negative", f.probe)
	}
	if s := replication.NodeState(f.state); s != replication.Warming && s != replication.Serving {
		return fmt.Errorf("--state %q: want warming or serving", f.state)
	}
	if _, _, err := net.SplitHostPort(f.gossipAddr); err != nil {
		return fmt.Errorf("--gossip-addr %q: %w", f.gossipAddr, err)
	}
	if f.rejoin <= 0 || f.forgetAfter <= 0 {
		return fmt.Errorf("--rejoin-interval %v and --forget-failed-after %v: must be positive", f.rejoin, f.forgetAfter)
	}
	if f.drainTimeout < 0 {
		return fmt.Errorf("--drain-timeout %v: must not be negative", f.drainTimeout)
	}
	if f.insecure && f.keyFile != "" {
		return errors.New("--gossip-insecure and --gossip-key-file: give one")
	}
	return nil
}

// advertised returns the cache address to advertise for a node listening
// on listen (host:port): --advertise-addr, its port defaulting to listen's,
// or listen itself, which must then name one interface: clients cannot
// reach 0.0.0.0 or ::.
func (f fleetOptions) advertised(listen string) (string, error) {
	lhost, lport, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	if f.advertise == "" {
		if wildcard(lhost) {
			return "", fmt.Errorf("%w: -l %q is not an address clients can reach", ErrWildcardListen, lhost)
		}
		return listen, nil
	}
	host, port, err := net.SplitHostPort(f.advertise)
	if err != nil { // a bare host (or IPv6 address) takes the listen port
		host, port = strings.Trim(f.advertise, "[]"), lport
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("--advertise-addr %q: bad port", f.advertise)
	}
	if wildcard(host) {
		return "", fmt.Errorf("--advertise-addr %q: want an address clients can reach, not a wildcard", f.advertise)
	}
	return net.JoinHostPort(host, port), nil
}

// wildcard reports whether host means every interface.
func wildcard(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}

// startMember joins the fleet, advertising the cache listening at
// cacheAddr (or --advertise-addr), its metrics registered with reg. It
// returns nil when the node is standalone.
func startMember(ctx context.Context, f fleetOptions, cacheAddr string, fence membership.Fence, reg prometheus.Registerer, log *slog.Logger) (*membership.Member, error) {
	if f.zone == "" {
		return nil, nil
	}
	cacheAddr, err := f.advertised(cacheAddr)
	if err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(f.gossipAddr)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("--gossip-addr %q: bad port", f.gossipAddr)
	}
	var key []byte
	switch {
	case f.keyFile != "":
		if key, err = readGossipKey(f.keyFile); err != nil {
			return nil, err
		}
	case !f.insecure:
		return nil, ErrGossipKeyRequired
	default:
		log.Warn("gossip is not encrypted (--gossip-insecure): anyone who reaches the gossip port can join the fleet")
	}
	var seeds []string
	for _, s := range strings.Split(f.join, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	name := cmp.Or(f.nodeName, cacheAddr)
	weight, next, err := f.startWeights(name)
	if err != nil {
		return nil, err
	}
	m, err := membership.Start(ctx, membership.Config{
		NodeName: name, Zone: f.zone, CacheAddr: cacheAddr, Weight: weight, NextWeight: next, SaveWeights: f.weightSaver(name, log),
		State: replication.NodeState(f.state), BindAddr: host, BindPort: port,
		Join: seeds, SecretKey: key, Label: f.label, Profile: f.profile, ProbeInterval: f.probe, Logger: log,
		RequireJoin: f.requireJoin, RejoinInterval: f.rejoin, ForgetAfter: f.forgetAfter, Fence: fence, Registerer: reg,
	})
	if err == nil && m.State() == replication.Warming {
		log.Warn("warming: serving no reads until promoted (zonecache promote, or POST /state?to=serving)", "node", m.Name())
	}
	return m, err
}

// pauseBound is the server's PauseBound for a fleet node (0 standalone):
// membership.PauseBound of the gossip profile.
func (f fleetOptions) pauseBound() (time.Duration, error) {
	if f.zone == "" {
		return 0, nil
	}
	return membership.PauseBound(membership.Config{Profile: f.profile, ProbeInterval: f.probe})
}

// readGossipKey reads --gossip-key-file (membership.ReadKeyFile).
func readGossipKey(path string) ([]byte, error) {
	k, err := membership.ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("--gossip-key-file: %w", err)
	}
	return k, nil
}

// adminHandler serves the server's admin endpoints and, on a fleet node,
// the member's (membership.Member.AdminHandler: /topology and /state).
func adminHandler(srv *server.Server, m *membership.Member) http.Handler {
	if m == nil {
		return srv.AdminHandler()
	}
	return m.AdminHandler(srv.AdminHandler())
}

// drain takes the node out of the fleet before it stops: it advertises
// the state leaveState gives (waiting, after warming, until reads stop
// arriving, at most half of timeout), stops serving hits (server.Leaving:
// clients that drop it stop writing to it, while those that lag still
// read it), leaves the gossip pool so clients drop it from their
// topology, and, unless its reads had already stopped, waits until they
// stop or timeout passes.
func drain(m *membership.Member, srv *server.Server, timeout time.Duration, log *slog.Logger) {
	if m == nil {
		return
	}
	start := time.Now()
	t := m.Topology()
	self, _ := t.Node(m.Name())
	self.State = m.State()
	next := leaveState(t, self)
	if next != "" {
		ctx, cancel := context.WithTimeout(context.Background(), min(timeout, 5*time.Second))
		if err := m.SetState(ctx, next); err != nil {
			log.Warn("advertise "+string(next), "err", err)
		}
		cancel()
	}
	handedOver := next == replication.Warming && !waitReadsStop(srv, start.Add(timeout/2))
	srv.Leaving()
	if err := m.Leave(min(timeout, 5*time.Second)); err != nil {
		log.Warn("leave the fleet", "err", err)
	}
	arriving := false
	if !handedOver {
		arriving = waitReadsStop(srv, start.Add(timeout))
	}
	log.Info("drained", "after", time.Since(start).Round(time.Millisecond), "reads_still_arriving", arriving)
}

// leaveState is the state node self of topology t advertises before it
// leaves; "" for none. A serving node drains: it keeps its reads while
// writes of its keys reach their next owners too. The only draining node
// of its zone (a reshard's leaving node, its keys copied to their new
// owners) turns warming: clients read the new owners, warm, while it still
// takes writes. A node that serves no reads (warming, joining), or one of
// several draining in its zone (warming, it would hand its reads to the
// others, which do not get those writes), changes nothing.
func leaveState(t replication.Topology, self replication.Node) replication.NodeState {
	switch self.EffectiveState() {
	case replication.Serving:
		return replication.Draining
	case replication.Draining:
		isDraining := func(s replication.NodeState) bool { return s == replication.Draining }
		for _, n := range t.ZoneNodes(self.Zone, isDraining) {
			if n.ID != self.ID {
				return ""
			}
		}
		return replication.Warming
	}
	return ""
}

// waitReadsStop waits until no read has arrived at srv for a second
// (clients have moved their reads away) or deadline passes, and reports
// whether reads were still arriving.
func waitReadsStop(srv *server.Server, deadline time.Time) bool {
	const quiet, tick = time.Second, 100 * time.Millisecond
	last, lastChange := srv.Reads(), time.Now()
	for time.Now().Before(deadline) && time.Since(lastChange) < quiet {
		time.Sleep(tick)
		if n := srv.Reads(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	return time.Since(lastChange) < quiet
}
