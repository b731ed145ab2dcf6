// Package client is zonecache's smart client, the library services embed:
// a replicated, zone-aware memcached client in the style of Netflix's
// EVCache, speaking the meta protocol to zonecached or memcached ≥ 1.6.
//
// # Placement
//
// A Topology (package replication) lists every node with its zone,
// address, weight and state. For each zone the client builds two rings
// (package sharding): a read ring over the nodes that serve reads
// (serving, draining) and a write ring over the nodes that take writes
// (warming, serving). A key's replica in a zone is its owner in the read
// ring; writes go to its owner in the write ring and, when that differs,
// to the read-ring owner as well, so a warming node receives the writes of
// the keys it will own while reads still go to the serving node, and a
// draining node never keeps an older value than the one it serves.
// Joining nodes take no traffic. SetTopology builds new rings and swaps one
// immutable view atomically; requests finish on the view they started
// with, transports are reused by address and closed Config.NodeGrace after
// no view uses them.
//
// # Reads
//
// Get, GetMulti and GetAndTouch read the local zone first, then the other
// zones in replication.ReadOrder (Config.ZonePreference), moving on after
// an error, a timeout, an open circuit breaker, and (unless
// Config.DisableFallbackOnMiss) a miss, always within the caller's
// context. A node's circuit breaker (Config.Transport.Breaker) opens only
// on failures the node is to blame for: a refused or timed-out connect, or
// a request that got nothing back on its connection for its whole wait
// (a killed, frozen or cut-off node). Time a request spent queued in the
// client (rate limit, in-flight slots, connections, replies not yet read)
// never counts, nor does a timeout on a connection that kept receiving
// replies, so an overloaded client or a busy node does not send every read
// to other zones: only that request falls back (ErrQueueTimeout when it
// was never sent; zonecache_client_queue_timeouts_total and
// zonecache_client_breaker_failures_total per node). See package
// internal/transport for the exact rule and its one blind spot (a lone
// request to a node slower than the timeout opens the breaker). GetMulti sends one pipelined multi-get per node of a zone, all
// nodes in parallel, and only the keys still missing go on. A value found
// in another zone after a local miss is written back to the local replica
// (read repair: an Add with its remaining TTL through the batch pool, in
// the background, bounded by Config.ReadRepairWorkers).
//
// Lookups are de-duplicated twice: under WithRequestScope a key is fetched
// at most once per request, and concurrent Gets of one key in one process
// share one lookup (a waiter whose context ends leaves alone). GetOrLoad
// adds a loader and fleet-wide herd protection with memcached leases, taken
// in one zone every client agrees on (Config.LeaseZone); see its
// documentation.
//
// # Writes
//
// Set, Add, Replace, Append, Prepend, CompareAndSwap, Delete, Incr, Decr
// and Touch go to every zone's replica in parallel (and to warming nodes)
// and return once Config.WritePolicy is met or can no longer be met
// (none, one, quorum, all-minus-one (default), all; counted on successes
// of serving replicas only). The others complete in the background. The
// WriteResult names the replicas that failed; an unmet policy is an error
// wrapping replication.ErrPolicyNotMet. A replica that fails a delete or a
// write gets a delete queued in a bounded repair queue
// (replication.RepairQueue), retried through the batch pool with backoff
// until it succeeds, its key expires, or the queue overflows (a repair of
// a node that left the topology is kept for Config.RepairAbsentGrace in
// case the node returns with its data, and is the first dropped when the
// queue is full); the pending
// count is the zonecache_client_repairs_pending gauge. A repair may delete
// a newer value written after the failure: the replica then misses and
// reads fall back, it never serves a stale value.
//
// Consistency of the conditional operations (none is atomic across
// zones; each documents its rules): Add decides at an arbiter replica,
// the first zone by name, and converges the others on its value;
// CompareAndSwap compares on the replica the item was read from and sets
// the others; Incr and Decr apply on every replica and reconcile a
// disagreement to the largest (Incr) or smallest (Decr) value.
//
// # Pools, keys, observability, faults
//
// Every call uses the nodes' online pools; Client.Batch returns the same
// client over the batch pools (bulk loads, warmers), which the client's own
// background writes (read repairs, delete repairs) use too. A node's batch
// pool yields to its online pool by default (Config.Transport.Yield): while
// online calls run on the node, batch calls go one request at a time, in
// flight at most a quarter of the time, with GetMultis split into 16-key
// requests; the other batch callers wait (honouring their context), and
// the full batch concurrency returns once online traffic stops. Under a
// saturating online load batch therefore slows down a lot (in
// BenchmarkIsolation, from about 15,000 to about 1,300 calls a second),
// and online p99 latency under it stays within 0.8-1.4x of the unloaded
// one on a shared 2-core machine (median about 1.1x), instead of 3-7x
// without yielding; Batch.RateLimit bounds batch further, and
// Yield.Disabled restores the old behaviour. The metrics
// zonecache_client_batch_yields_total and
// zonecache_client_batch_waiting_requests show the yielding. Keys get
// Config.KeyPrefix; keys longer than memcached's 250 bytes or with spaces
// or control characters are hashed (SHA-256, base64url) and their values
// stored in an envelope with the full key, so that a hash collision reads
// as a miss (the format is in keys.go). Prometheus metrics (names
// zonecache_client_*) cover requests per operation, zone and result,
// latency, breaker states, repairs, read repairs and leases; Hooks report
// every node request and client call for tracing. Config.Faults (or
// Client.SetFaults at run time) injects errors and delays into chosen
// zones or nodes for a share of requests, as Netflix's FIT does, to prove
// fallbacks in production; a delay beyond the pool's timeout fails as a
// timeout. Errors wrap sentinels (ErrTimeout, ErrCircuitOpen,
// ErrUnreachable, ErrValueTooLarge...) that callers test with errors.Is.
//
// # Not built
//
// Near caching, value compression and chunking, and cross-region
// replication are not part of this package. Against a node without meta
// commands (memcached before 1.6) the transport falls back to the text
// protocol for reads and writes; leases cannot be expressed there, so
// GetOrLoad degrades to per-process singleflight and counts it in
// zonecache_client_leases_total{result="unsupported"}
// (TestGetOrLoadDegradesOnNodesWithoutMeta runs it against zonecached
// --disable-meta, which answers meta commands as memcached 1.5 does).
package client
