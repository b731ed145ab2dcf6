// Command zonebench measures caches through the clients people would use:
//
//   - memcached=HOST:PORT[+HOST:PORT…]: memcached-protocol nodes (Debian's
//     memcached or zonecached) through gomemcache, the baseline;
//   - node=HOST:PORT: one zonecached (or memcached ≥ 1.6) through
//     package nodeclient;
//   - fleet=ZONE@…: a zonecache fleet through the smart client living in
//     ZONE, its topology from a JSON file (ZONE@FILE.json, as /topology
//     serves it), inline (ZONE@Z1/HOST:PORT+Z2/HOST:PORT…) or discovered
//     from seeds' admin addresses and followed during the run
//     (ZONE@seeds:HOST:PORT+…).
//
// It runs a configurable workload in a closed or open loop, or two targets
// alternately with --compare, and prints throughput, latency percentiles,
// hit ratio, per-zone requests, fallbacks and errors as a table, JSON
// (--json) and an SVG chart of the per-second series (--svg). --event runs
// a command at an offset into the run and marks it on the series.
//
// `zonebench demo` (what `make run` runs) starts a local 3-zone fleet of
// zonecached processes, runs a scenario against it (a zone lost, a node
// replaced, a slow node, a reshard: zone a grown and shrunk, zone d added
// and removed, each warmed before its cutover, with the consistency
// checker's stale-read count, or the whole tier down under GetOrLoad
// callers and a stand-in origin), prints the report and stops the fleet,
// also on Ctrl-C. It exits 1 when callers saw errors, which the fleet
// should hide (tier-down: other than ErrOriginBusy, or when the origin got
// more loads per second than it carries).
//
// `zonebench consistency` (what `make check-consistency` runs) starts a
// fresh local fleet per fault and server kind, runs a versioned writer and
// a reader in every zone while it injects the fault on a schedule, and
// prints the stale reads, lost writes and caller errors it saw (package
// internal/consistency holds the logic); its last line is
// "CONSISTENCY: N stale reads, M lost writes, K caller errors" and it exits
// 1 when any is non-zero. `zonebench consistency-writer` is its writer
// process (hidden).
//
// `zonebench reshard-copy` measures package reshard's copy: one node's
// items (1,000,000 of 100 B and of 4 KB by default) copied to another,
// without a rate limit and within one, with keys/s, MB/s and the CPU per
// key of the copier and of each node.
//
// This command only parses flags and wires them to internal/bench (the
// harness), internal/fleet and internal/consistency, where the logic lives.
// Run `zonebench -h` and `zonebench demo -h` for the flags.
package main
