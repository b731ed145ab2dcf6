package consistency

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/membership"
	"github.com/zonecache/zonecache/replication"
)

// Fault names a fault the checker injects.
type Fault string

// The faults, in the order they run.
const (
	Kill9           Fault = "kill9"            // a node killed (SIGKILL), restarted empty on its address
	Freeze          Fault = "sigstop"          // a node frozen (SIGSTOP) beyond failure detection, then thawed
	ZoneCut         Fault = "zone-cut"         // zone c cut off (network namespace link down), then healed
	JoinDrain       Fault = "join-drain"       // a node joins zone a, takes writes, drains and leaves
	WriterExit      Fault = "writer-exit"      // the writer process killed with repairs pending while zone c is down, restarted on its repair spool
	GossipPartition Fault = "gossip-partition" // zone c cut off beyond memberlist's dead-node window
	ReshardKill     Fault = "reshard-kill"     // a node being added by a reshard killed mid-copy, restarted empty, the reshard resumed
)

// Faults lists every fault in run order.
var Faults = []Fault{Kill9, Freeze, ZoneCut, JoinDrain, WriterExit, GossipPartition, ReshardKill}

// faultSpec is how one fault is injected and healed.
type faultSpec struct {
	// zonecachedOnly: the fault needs a gossiping fleet.
	zonecachedOnly bool
	// netns: zone c goes in a namespace; needsNetns: no fallback.
	netns, needsNetns bool
	// writerProcess: the writer is a subprocess.
	writerProcess bool
	// staticClients: clients get the fleet as started, not following its
	// gossip, even on zonecached.
	staticClients bool
	// takesReplica: during the fault phase a replica of some keys cannot
	// be written (so a policy needing every zone cannot be met).
	takesReplica bool
	// inject injects the fault and returns when it is time to heal.
	inject func(ctx context.Context, r *run) error
	heal   func(ctx context.Context, r *run) error
}

func (s faultSpec) applies(srv Server) bool { return srv == Zonecached || !s.zonecachedOnly }

// Applies reports whether fault f runs against srv: stock memcached has
// no gossip and no node states, so join-drain, gossip-partition and
// reshard-kill need zonecached.
func Applies(f Fault, srv Server) bool {
	s, ok := faultSpecs[f]
	return ok && s.applies(srv)
}

var faultSpecs = map[Fault]faultSpec{
	Kill9:           {takesReplica: true, inject: injectKill9, heal: healKill9},
	Freeze:          {takesReplica: true, inject: injectFreeze, heal: healFreeze},
	ZoneCut:         {takesReplica: true, staticClients: true, netns: true, inject: injectZoneCut, heal: healZoneCut},
	JoinDrain:       {zonecachedOnly: true, inject: injectJoin, heal: healDrain},
	WriterExit:      {takesReplica: true, writerProcess: true, inject: injectWriterExit, heal: healWriterExit},
	GossipPartition: {takesReplica: true, zonecachedOnly: true, netns: true, needsNetns: true, inject: injectGossipPartition, heal: healGossipPartition},
	ReshardKill:     {zonecachedOnly: true, inject: injectReshardKill, heal: healReshardKill},
}

// victim is the node the single-node faults hit: the second of zone a, so
// that a restarted gossiping node has a running seed.
const victim = "a-2"

func injectKill9(ctx context.Context, r *run) error {
	n := r.env.node(victim)
	pid := n.Pid()
	n.Kill()
	if n.Running() || !dialFails(n.Addr, time.Second) {
		return fmt.Errorf("%s (pid %d) still answers after SIGKILL: %w", victim, pid, ErrFaultNotInjected)
	}
	r.evidence("%s (pid %d) killed with SIGKILL; %s refuses connections", victim, pid, n.Addr)
	return backoff.Sleep(ctx, r.cfg.Duration)
}

func healKill9(ctx context.Context, r *run) error {
	n := r.env.node(victim)
	if err := r.env.fleet.Restart(ctx, n); err != nil {
		return fmt.Errorf("restart %s: %w", victim, err)
	}
	r.evidence("%s restarted empty on %s (pid %d)", victim, n.Addr, n.Pid())
	return nil
}

// procState is the state letter of /proc/pid/stat (T: stopped).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "?"
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return rest[:1]
}

// detection is how long the fleet takes to drop a dead member.
func detection() time.Duration {
	d, err := membership.FailureDetectionTime(membership.Config{Profile: "local"}, 6)
	if err != nil {
		return 30 * time.Second
	}
	return d
}

func injectFreeze(ctx context.Context, r *run) error {
	n := r.env.node(victim)
	if err := n.Freeze(); err != nil {
		return fmt.Errorf("SIGSTOP %s: %w", victim, err)
	}
	if err := waitState(n.Pid(), "T"); err != nil {
		return err
	}
	r.evidence("%s (pid %d) frozen with SIGSTOP: /proc state T", victim, n.Pid())
	if !r.env.follow {
		return backoff.Sleep(ctx, r.cfg.Duration)
	}
	// Frozen until the fleet has declared it dead and the writer dropped
	// it, and for the fault's duration at least.
	took, err := waitTopology(ctx, r.writer, detection()+10*time.Second, func(t replication.Topology) bool { return !hasNode(victim)(t) })
	if err != nil {
		return fmt.Errorf("%s never left the writer's topology: %v: %w", victim, err, ErrFaultNotInjected)
	}
	r.evidence("%s declared dead: gone from the writer's topology after %.1fs", victim, took.Seconds())
	return backoff.Sleep(ctx, max(r.cfg.Duration-took, time.Second))
}

func waitState(pid int, want string) error {
	deadline := time.Now().Add(5 * time.Second)
	for procState(pid) != want {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d in state %s, want %s: %w", pid, procState(pid), want, ErrFaultNotInjected)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func healFreeze(ctx context.Context, r *run) error {
	n := r.env.node(victim)
	if err := n.Thaw(); err != nil {
		return err
	}
	r.evidence("%s thawed (SIGCONT): /proc state %s", victim, procState(n.Pid()))
	if r.env.follow {
		took, err := waitTopology(ctx, r.writer, 30*time.Second, hasNode(victim))
		if err != nil {
			r.note("%s did not come back to the writer's topology within 30 s", victim)
			return nil
		}
		r.evidence("%s back in the writer's topology after %.1fs", victim, took.Seconds())
	}
	return nil
}

func injectZoneCut(ctx context.Context, r *run) error {
	if err := r.cutZone(ctx); err != nil {
		return err
	}
	return backoff.Sleep(ctx, r.cfg.Duration)
}

// cutZone cuts zone c off: the namespace link down, or the fault proxies
// hung.
func (r *run) cutZone(ctx context.Context) error {
	c1 := r.env.fleet.Zone("c")[0]
	at := time.Since(r.start)
	if r.proxies != nil {
		r.proxies.setDelay(time.Hour)
		r.evidence("zone c's fault proxies hold every response (delay 1h)")
		return nil
	}
	if err := r.env.netns.Cut(ctx); err != nil {
		return fmt.Errorf("%v: %w", err, ErrFaultNotInjected)
	}
	up, err := r.env.netns.LinkUp(ctx)
	if err != nil || up || !dialFails(c1.Addr, time.Second) {
		return fmt.Errorf("zone c still reachable after the cut (link up %v, %v): %w", up, err, ErrFaultNotInjected)
	}
	r.evidence("zone c cut off: link %s in namespace %s down at %.1fs, a dial to c-1 %s times out", r.env.netns.NsVeth, r.env.netns.Name, at.Seconds(), c1.Addr)
	return nil
}

func healZoneCut(ctx context.Context, r *run) error {
	if r.proxies != nil {
		r.proxies.setDelay(0)
		r.evidence("zone c's fault proxies pass responses again")
		return nil
	}
	if err := r.env.netns.Heal(ctx); err != nil {
		return err
	}
	c1 := r.env.fleet.Zone("c")[0]
	deadline := time.Now().Add(10 * time.Second)
	for dialFails(c1.Addr, time.Second) {
		if time.Now().After(deadline) {
			return fmt.Errorf("zone c unreachable 10 s after the heal")
		}
	}
	r.evidence("zone c healed: link up, c-1 %s answers", c1.Addr)
	return nil
}

// joiner is the node the join-drain and reshard-kill faults add.
const joiner = "a-3"

func injectJoin(ctx context.Context, r *run) error {
	n, err := r.env.fleet.Add(ctx, "a", joiner, "--state", string(replication.Serving))
	if err != nil {
		return fmt.Errorf("start %s: %w", joiner, err)
	}
	took, err := waitTopology(ctx, r.writer, 30*time.Second, hasNode(joiner))
	if err != nil {
		return fmt.Errorf("%s: %v: %w", joiner, err, ErrFaultNotInjected)
	}
	r.evidence("%s joined zone a serving (%s); in the writer's topology after %.1fs", joiner, n.Addr, took.Seconds())
	return backoff.Sleep(ctx, r.cfg.Duration)
}

func healDrain(ctx context.Context, r *run) error {
	n := r.env.node(joiner)
	r.pause.Set(true) // the keys a-3 took keep their last version until it has left
	defer r.pause.Set(false)
	if err := setState(ctx, n.Admin(), replication.Draining); err != nil {
		return fmt.Errorf("drain %s: %w", joiner, err)
	}
	r.evidence("%s set to draining (POST /state?to=draining)", joiner)
	if err := n.Terminate(15 * time.Second); err != nil {
		n.Kill()
	}
	r.evidence("%s stopped (SIGTERM: it left the fleet after draining)", joiner)
	took, err := waitTopology(ctx, r.writer, 30*time.Second, func(t replication.Topology) bool { _, ok := t.Node(joiner); return !ok })
	if err != nil {
		return fmt.Errorf("%s still in the writer's topology: %v: %w", joiner, err, ErrFaultNotInjected)
	}
	r.evidence("%s gone from the writer's topology after %.1fs; the writer, held during the drain, resumes", joiner, took.Seconds())
	return nil
}

// writerExitDown bounds how long zone c is down in the writer-exit fault
// on a gossiping fleet: below failure detection, so that the fault is the
// lost repairs, not a node returning to the topology (the sigstop fault).
const writerExitDown = 3 * time.Second

func injectWriterExit(ctx context.Context, r *run) error {
	zone := r.env.fleet.Zone("c")
	for _, n := range zone {
		if err := n.Freeze(); err != nil {
			return err
		}
		if err := waitState(n.Pid(), "T"); err != nil {
			return err
		}
	}
	r.evidence("zone c down: c-1 and c-2 frozen (SIGSTOP, /proc state T)")
	down := r.cfg.Duration
	if r.env.follow {
		down = min(down, writerExitDown)
	}
	if err := backoff.Sleep(ctx, down); err != nil {
		return err
	}
	pending := r.proc.pending()
	r.proc.kill()
	r.evidence("writer process (pid %d) killed with SIGKILL: %s; it last reported %d repairs pending", r.proc.pid(), r.proc.exitState(), pending)
	if pending == 0 {
		r.note("the writer reported no pending repairs when killed: the fault may not have been exercised")
	}
	return nil
}

// healWriterExit thaws zone c and starts a new writer process on the dead
// one's repair spool, as a service manager restarting it would: it must
// take over the dead writer's repairs, and it writes on through recovery.
func healWriterExit(ctx context.Context, r *run) error {
	for _, n := range r.env.fleet.Zone("c") {
		if err := n.Thaw(); err != nil {
			return err
		}
	}
	r.evidence("zone c thawed (SIGCONT)")
	versions := map[string]uint64{}
	for _, k := range r.cfg.Workload.Keys {
		versions[k] = r.h.LastIssued(k)
	}
	p, err := startWriterProc(ctx, r, versions, "new writer process")
	if err != nil {
		return err
	}
	r.restarted = p
	r.evidence("new writer process (pid %d) started on the same repair spool: took over %d repairs (zonecache_client_repair_spool_replayed_total); versions go on above the dead writer's", p.pid(), p.replayed.Load())
	if dead := r.proc.pending(); dead > 0 && p.replayed.Load() == 0 {
		r.note("the dead writer reported %d repairs pending but the new one took over none from the spool", dead)
	}
	return nil
}

// deadWindow is memberlist's GossipToTheDeadTime on the local profile:
// how long members go on gossiping to a member they declared dead, so
// that a partition shorter than detection plus this window heals by
// itself.
const deadWindow = 15 * time.Second

func injectGossipPartition(ctx context.Context, r *run) error {
	start := time.Now()
	if err := r.cutZone(ctx); err != nil {
		return err
	}
	a1 := r.env.fleet.Zone("a")[0].AdminAddr
	var view replication.Topology
	took, err := pollUntil(ctx, detection()+10*time.Second, func() bool {
		t, err := r.env.fetchFrom(ctx, a1)
		view = t
		return err == nil && !slices.ContainsFunc(t.Nodes, func(n replication.Node) bool { return n.Zone == "c" })
	})
	if err != nil {
		return fmt.Errorf("a-1 still lists zone c %v into the cut: %w", took, ErrFaultNotInjected)
	}
	r.evidence("a-1 dropped zone c after %.1fs: %s", took.Seconds(), describe(view))
	// Beyond the dead-node window, with a margin, and --duration at least.
	rest := max(r.cfg.Duration-time.Since(start), deadWindow+5*time.Second)
	r.evidence("the cut goes on %.0fs more: memberlist's dead-node window (%v) and a 5s margin", rest.Seconds(), deadWindow)
	return backoff.Sleep(ctx, rest)
}

func healGossipPartition(ctx context.Context, r *run) error {
	if err := healZoneCut(ctx, r); err != nil {
		return err
	}
	a, errA := r.env.fetchFrom(ctx, r.env.fleet.Zone("a")[0].AdminAddr)
	c, errC := r.env.fetchFrom(ctx, r.env.fleet.Zone("c")[0].AdminAddr)
	r.evidence("at the heal a-1 sees %s (%v), c-1 sees %s (%v)", describe(a), errA, describe(c), errC)
	return nil
}

// pollUntil polls ok every 100 ms until it holds or within passes.
func pollUntil(ctx context.Context, within time.Duration, ok func() bool) (time.Duration, error) {
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			return time.Since(start), fmt.Errorf("not within %v", within)
		}
		if err := backoff.Sleep(ctx, 100*time.Millisecond); err != nil {
			return time.Since(start), err
		}
	}
	return time.Since(start), nil
}

// setState moves a node to state through its admin endpoint (the
// fleet's token on it), within 10 s.
func setState(ctx context.Context, node *admin.Client, to replication.NodeState) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := node.SetState(ctx, to)
	return err
}
