// Package bench is zonecache's benchmark harness: it measures a cache side
// by side with what users would use instead, and it is the logic behind
// cmd/zonebench (which only wires flags to it).
//
// The pieces:
//
//   - Workload describes the requests: key count and size, popularity
//     (Uniform, or Zipfian with skew θ drawn by rejection-inversion, see
//     Zipf), the get/set/delete/multi-get Mix, value sizes, TTL and seed.
//   - Target is the cache under test. MemcacheTarget is one node through
//     gomemcache (the baseline); NodeTarget is one node through package
//     nodeclient; FleetTarget is a whole fleet
//     through the smart client (package client). Being zone-aware it is a
//     ZoneReporter (ZoneCounters counts from the client's per-node hooks),
//     so reports show requests, hits, errors and fallbacks per zone.
//     WithServerCPU adds the server processes' CPU time per operation.
//   - Run drives a Target with a Config: a closed loop (Concurrency workers
//     back to back) or an open loop (Rate: a fixed timetable, latency
//     measured from each operation's due time so a stall is not hidden by
//     coordinated omission), for a Duration or a number of Ops, after an
//     optional prefill, with Events (a node killed, a zone lost) at given
//     times. It returns a Result: totals, latency Histograms (log-linear,
//     relative error ≤ MaxRelativeError, one per worker merged at the end,
//     Record does not allocate; nor does the harness per operation) and a
//     per-second time series of throughput, errors, hit ratio and latency.
//   - Compare runs two Targets in alternating slices (A B A B …) within one
//     run, so machine noise hits both, and reports their ratios.
//   - Report renders Results as a table (with the per-second series around
//     events) or JSON; WriteSVG draws the series with event markers as a
//     standalone SVG file, its time axis fitted to the run.
//
// It is internal because only cmd/zonebench uses it. Dependencies point one
// way: bench imports the gomemcache client and zonecache's client,
// replication and nodeclient; nothing imports bench but cmd/zonebench and
// tests.
package bench
