// Package membership keeps a fleet of zonecached servers aware of each other
// with gossip (hashicorp/memberlist) and turns what it learns into the
// fleet's topology (replication.Topology), which every server serves over
// its admin HTTP listener at /topology so that clients and the admin CLI can
// bootstrap from any seed.
//
// Each server is a Member: it advertises, in its gossip metadata, its zone,
// its cache address, its weight and its life-cycle state (joining, warming,
// serving, draining), and re-advertises on every change. Gossip can be
// encrypted with a shared key (AES-GCM) and carries a cluster label, so two
// fleets on one network never merge.
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
// The topology's epoch is the time, in Unix nanoseconds, of the newest change
// this member has seen, forced to grow by at least one on every change: one
// member's views are strictly ordered, and views from different members
// compare by when they last changed.
package membership
