// Package replication is the pure logic of zone replication: the topology
// model (zones, nodes, node states, epochs), the order in which a client
// reads zones, the write policies that decide when a replicated write is
// acknowledged, the outcome that reports which replicas failed, and the
// bounded queue of repairs of those replicas (RepairQueue), which also
// answers, cheaply, whether a replica's copy of a key awaits a repair.
//
// It does no I/O and starts no goroutines. The client (package client)
// drives the network and asks this package what to do; the server's
// membership layer produces Topology values that clients consume. Keys are
// placed within a zone by package sharding, through Placement: per zone a
// read ring (serving and draining nodes, by Weight) and a write ring
// (warming and serving nodes, by NextWeight when a reshard sets it); a
// write goes to the write owner and, when it differs, the
// read owner, and a node holds a key when it is either. The client, the
// warmer and the servers' ownership purge all place keys with it.
//
// Node life cycle: joining → warming (takes writes, serves no reads) →
// serving → draining (serves reads, takes no new keys) → gone. A write goes
// to every zone's replica that takes writes; only serving replicas count
// toward the write policy, so a write-only (warming) replica never makes a
// write look acknowledged.
package replication
