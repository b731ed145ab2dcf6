// Package membership keeps a fleet of zonecached servers aware of each other
// with gossip (hashicorp/memberlist) and turns what it learns into the
// fleet's topology (replication.Topology), which every server serves over
// its admin HTTP listener at /topology so that clients and the admin CLI can
// bootstrap from any seed; Member.AdminHandler serves it with /state, which
// promotes and drains the node (package admin is their client).
//
// The package is public so that a Go program can embed a fleet node, as
// cmd/zonecached does: a server.Server (package server) with a Member that
// gossips its state and fences it (Config.Fence).
//
// Each server is a Member: it advertises, in its gossip metadata, its zone,
// its cache address, its weight and its life-cycle state (joining, warming,
// serving, draining), and re-advertises on every change. Weights set at
// runtime (SetWeight) go through Config.SaveWeights first, so that a node
// can keep them across a restart (zonecached --weight-file). Gossip can be
// encrypted with a shared key (AES-GCM) and carries a cluster label, so two
// fleets on one network never merge. The key rotates without downtime
// through the member's keyring (InstallKey, UseKey, RemoveKey; the admin
// endpoints /gossip/keys); ReadKeyFile refuses a key file others can read.
//
// Timings come from memberlist's lan, local or wan preset (Config.Profile,
// Config.ProbeInterval), except that every update is gossiped to at least
// 8·ceil(log10(n+1)) peers per member, so a join reaches the whole fleet in
// a few gossip rounds rather than at the next full-state sync.
// FailureDetectionTime gives the worst case for a dead member to leave
// every member's topology.
//
// The topology a member sees (Topology, Changed) also drives its own
// server's ownership purge (server.PurgeUnowned, wired by cmd/zonecached):
// at every change of its zone, a node drops the keys it no longer owns and
// those coming back to it, so that ownership moving in either direction
// never serves an older value.
//
// A member that may have been dropped from the fleet's topology tells its
// cache (Config.Fence, implemented by server.Server) so that it never
// serves a value older than a write made meanwhile elsewhere. The bound
// is PauseBound, B = SuspicionMult·PI/2, half the shortest time the fleet
// can take to drop a member (1.5 s local, 2 s lan, 15 s wan):
//
//   - a pause (the process stopped or starved) longer than B: the server's
//     own heartbeat sees it (server.Config.PauseBound) and invalidates its
//     store before serving again;
//   - cut off from most of the fleet: members send each other a contact
//     message every B/4 (isolation.go); a member that heard within B from
//     fewer than half of the members it knows, itself included, calls
//     Fence.SetIsolated(true) (no hits), and SetIsolated(false)
//     (invalidate, then serve) once it hears from half or more. Known
//     members are those seen alive, less those that left while draining
//     and those failed for longer than ForgetAfter. An exact half is not
//     cut off: a two-node fleet keeps serving when one node dies, and so
//     do both halves of a split into equal halves, whose writes then
//     diverge (after a heal within the dead-node window, each side
//     refutes the other's death verdict and invalidates; after a longer
//     one, nothing invalidates them);
//   - declared dead while running (a gossip flap, a one-way loss, a
//     pause): every member sends each member it holds failed a dropped
//     notice, at once when it fails (even if it refutes at once) and then
//     with its contact messages (dropped.go). A member that gets
//     one, or refutes a dead message about itself
//     (Fence.InvalidateAll(CauseRefuted) then), calls
//     Fence.SetIsolated(true) until no sign came for B, then
//     SetIsolated(false) (invalidate, then serve): clients that dropped it
//     wrote its keys elsewhere. memberlist alone may never tell: a member
//     that comes back refutes the suspicion queued for it first, which
//     raises its incarnation, and then ignores the death as older. A
//     member cut off from most of the fleet sends no notice for the
//     deaths it declares then, and a notice or death from a member it had
//     lost contact with while it heard from more than half the fleet is
//     ignored (the minority's verdict: clients kept this member, so it
//     missed no writes). A member that was itself cut off within the
//     last 4·B ignores notices and refutations of that time: its
//     isolation's fence and invalidation cover them, and fencing again
//     would drop the repairs it took since. Between the verdict and the
//     first notice reaching it (the network) it may still serve.
//
// A member that memberlist declares failed while this member still hears
// its contact messages (within B/2) is kept in the topology, for at most
// B, until it refutes or falls silent (hold.go): the verdict is another
// member's, most often one cut off moments ago whose suspicion, raised
// during the cut, matured after the heal. Without the hold, every member
// dropped it for the instant before its refutation spread, clients
// following them could write its keys elsewhere, and the member had to
// fence and flush: after a zone cut healed, two replicas of a key fenced
// at once and acknowledged writes were lost. A dead member falls silent
// long before memberlist declares it (≥ 2·B), so it is never held; a
// member leaving on purpose says goodbye first.
//
// The fleet merges again after a partition by itself (rejoin.go): every
// RejoinInterval (default 5 s) a member joins each Join seed that is not
// in its topology and each failed member it remembers, in parallel. After
// a heal the sides merge within RejoinInterval plus the profile's TCP
// timeout (local 1 s, lan 10 s) plus a few gossip rounds. Without it, a
// split longer than failure detection plus DeadNodeWindow (memberlist's
// GossipToTheDeadTime: local 15 s, lan 30 s) would last for good. When no
// seed answers at start, Start starts the member alone and the same loop
// joins the seeds later (RequireJoin restores the failure).
//
// The topology's epoch is the time, in Unix nanoseconds, of the newest change
// this member has seen, forced to grow by at least one on every change: one
// member's views are strictly ordered, and views from different members
// compare by when they last changed.
//
// Operations: GET /readyz on the admin handler answers 503 with the reason
// (joining, warming, isolated, held dead, left) unless the member serves
// reads (serving or draining) and is in contact with most of the fleet; Config.Registerer receives the zonecache_membership_* metrics
// (members by zone and state, epoch, isolation, contact counts, gossip
// health, probe failures); memberlist's log lines reach Config.Logger at
// their own level, without their prefix.
package membership
