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
//     gomemcache (the baseline); the zonecache transport and the smart
//     client implement Target too, and a zone-aware Target also implements
//     ZoneReporter so reports show hits, errors and fallbacks per zone.
//   - Run drives a Target with a Config: a closed loop (Concurrency workers
//     back to back) or an open loop (Rate: a fixed timetable, latency
//     measured from each operation's due time so a stall is not hidden by
//     coordinated omission), for a Duration or a number of Ops, after an
//     optional prefill, with Events (a node killed, a zone lost) at given
//     times. It returns a Result: totals, latency Histograms (log-linear,
//     relative error ≤ MaxRelativeError, one per worker merged at the end)
//     and a per-second time series.
//   - Compare runs two Targets in alternating slices (A B A B …) within one
//     run, so machine noise hits both, and reports their ratios.
//   - Report renders Results as a table or JSON; WriteSVG draws the time
//     series with event markers as a standalone SVG file.
//
// Dependencies point one way: bench imports the gomemcache client and,
// later, zonecache's client and transport; nothing imports bench but
// cmd/zonebench and tests.
package bench
