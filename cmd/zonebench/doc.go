// Command zonebench measures caches: one node through gomemcache (the
// baseline users would use instead), and later a zonecache node through the
// zonecache transport and a zonecache fleet through the smart client. It
// runs a configurable workload in a closed or open loop, or two targets
// alternately with --compare, and prints throughput, latency percentiles,
// hit ratio and errors as a table, JSON (--json) and an SVG chart of the
// per-second series (--svg).
//
// This command only parses flags and wires them to package bench, where the
// logic lives. Run `zonebench -h` for the flags.
package main
