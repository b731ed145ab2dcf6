// Package client is zonecache's smart client, the library services embed:
// a replicated, zone-aware memcached client in the style of Netflix's
// EVCache, speaking the meta protocol to zonecached or memcached ≥ 1.6.
//
// # Placement
//
// A Topology (package replication) lists every node with its zone,
// address, weight and state. The client places keys with
// replication.Placement, the one rule the warmer and the servers' ownership
// purge share: per zone a read ring over the nodes that serve reads
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
// context. A node's circuit breaker (Config.Node.Breaker) opens only
// on failures the node is to blame for: a refused or timed-out connect, or
// a request that got nothing back on its connection for its whole wait
// (a killed, frozen or cut-off node). Time a request spent queued in the
// client (rate limit, in-flight slots, connections, replies not yet read)
// never counts, nor does a timeout on a connection that kept receiving
// replies, so an overloaded client or a busy node does not send every read
// to other zones: only that request falls back (ErrQueueTimeout when it
// was never sent; zonecache_client_queue_timeouts_total and
// zonecache_client_breaker_failures_total per node). See package
// nodeclient for the exact rule and its one blind spot (a lone
// request to a node slower than the timeout opens the breaker). GetMulti sends one pipelined multi-get per node of a zone, all
// nodes in parallel, and only the keys still missing go on. A value found
// in another zone after a local miss is written back to the local replica
// (read repair: an Add with its remaining TTL through the batch pool, in
// the background, bounded by Config.ReadRepairWorkers). A read repair is
// dropped (zonecache_client_read_repairs_total{result="expired"}) unless it
// is sent within Config.DeleteHoldOff of the start of its read, and its Add
// fails on a delete's tombstone: so it never brings back a value that
// another client deleted after the local replica missed, the classic
// stale set. A text-protocol node reports no TTL, so no read repair is
// made from it.
//
// Every read (Get, GetMulti, GetAndTouch, GetOrLoad and its lease, the
// read repair's source, the reads of CompareAndSwap and Incr checks) takes
// a tombstone for a miss and falls back as for a miss; GetAndTouch gives a
// tombstone it touched its own short lifetime back.
//
// Lookups are de-duplicated twice: under WithRequestScope a key is fetched
// at most once per request (ScopeMiddleware opens one per HTTP request), and concurrent Gets of one key in one process
// share one lookup (a waiter whose context ends leaves alone). GetOrLoad
// adds a loader and fleet-wide herd protection with memcached leases, taken
// in one zone every client agrees on (Config.LeaseZone); see below.
//
// # Read-through (GetOrLoad)
//
// GetOrLoad protects the origin from a herd at three levels:
//
//  1. the request scope answers a key it has seen (a remembered miss does
//     not stop the load);
//  2. concurrent callers in this process share one lookup and one load
//     (a caller whose context ends leaves alone; a loader that panics or
//     fails releases the key and fails the callers waiting for it);
//  3. across processes, a lease on the key's replica in the lease zone
//     (Config.LeaseZone; by default the first zone by name with a serving
//     node, the same for every client of the fleet). A client of another
//     zone first reads its local replica and returns a hit from there; on
//     a miss it goes to the lease zone, and a value found there is copied
//     to the local zone (read repair). The lease lookup is an mg with N
//     (vivify on miss). The first caller to miss wins (W) and
//     loads; the others see the empty stub (Z) and poll the replica with
//     backoff until the value arrives or Config.LeaseWait passes, then load
//     themselves. A value marked stale (X, after an invalidation) is
//     returned at once; if this caller also won (W) it refreshes the value
//     in the background. The winner looks in the other zones before it
//     loads, so a value only the lease zone lost is copied, not reloaded.
//     A loader error deletes the stub, releasing the lease.
//
// If the lease replica cannot take leases (a node without meta commands)
// or fails (the lease zone is down), GetOrLoad degrades to per-process
// singleflight: a fallback read over every zone, then load;
// zonecache_client_leases_total{result="unsupported"|"error"} counts it.
//
// # Tier-down
//
// When the whole tier fails the origin must survive. A replica slower
// than Config.ReadHedge has the later zones asked ahead of their turn
// (answers still taken in read order), so a frozen tier costs a read one
// timeout, not one per zone; a key whose every replica's breaker is open
// skips the cache at once. GetOrLoad's loader calls go through a
// per-process bulkhead (Config.LoadConcurrency, LoadRate): beyond it the
// loader is not called and the call fails at once with ErrOriginBusy, or
// returns a stale value. The opt-in near cache (Config.NearCache) keeps
// values in process, bounded in bytes: an entry is served for its TTL,
// then revalidated with its replica by CAS (an mg without the value); this
// client's writes drop it at once, other clients' are seen within the
// TTL; while every replica is down it is served up to MaxStale past the
// TTL with Item.Stale set. Config.HotKeys finds hot keys with a count-min
// sketch (Client.HotKeys).
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
// Delete leaves a tombstone for Config.DeleteHoldOff (default 3 s) on each
// replica instead of nothing: a set of an empty value with client flags
// TombstoneFlags (reserved: Set, Add, Replace and CompareAndSwap refuse
// them with ErrReservedFlags) and a TTL of DeleteHoldOff + 1 s. Repair
// deletes write the same tombstone. It reads as a miss; an add fails on
// it, so no fill of an older value (read repair) lands within the hold-off;
// Set and CompareAndSwap overwrite it. The client's own operations treat it
// as a missing key: Add takes its place (one more read and a CAS on the
// arbiter), Replace is a read and a CAS per replica (ErrNotStored on a
// tombstone), Append and Prepend read first (ErrNotStored; one racing a
// delete appends to the tombstone, which stays one and reads as a miss),
// Touch and Incr/Decr answer ErrNotFound, CompareAndSwap with a token
// read before the delete ErrNotFound, GetOrLoad loads without a lease
// (zonecache_client_leases_total{result="deleted"}: no lease can be taken
// on an existing item, so other processes asking during the load load
// too).
// Delete reports as before (a replica without the key is a success). The
// cost is one small item (key + ~50 bytes) per deleted key and replica for
// DeleteHoldOff + 1 s, and Delete sends a set instead of a delete (the same
// round trip). DeleteHoldOff < 0 turns it off: deletes remove the key, and
// a read repair under way in another client can put a deleted value back
// in its zone until the value's TTL ends.
//
// While this client has a repair of a key queued or running on a replica,
// its own Get, GetMulti, GetAndTouch and GetOrLoad do not take that
// replica's copy of the key: it reads as a miss there and the read goes on
// to the next zone, whatever DisableFallbackOnMiss says
// (zonecache_client_repair_gated_reads_total). The check is one atomic
// load per replica read while the replica has no repair pending. When a
// node's circuit breaker closes again, its repairs run at once instead of
// after their backoff (up to Repair.MaxBackoff, 10 s by default), so the
// stale copy of a returning node is deleted within milliseconds of it
// answering; Node.Breaker.OnStateChange, if set, is still called.
// Readers in other processes are not gated: they rely on the repair
// running, and on the return quarantine below.
//
// # A node that returns
//
// A write (a store, Delete, Add, CompareAndSwap; not a Touch) is never
// skipped because this client's breaker of a replica is open: the breaker
// keeps reads and pools off a failing node, but a skipped write would leave
// the older value on a node that other clients, whose breakers are closed,
// still read. The replica's request is sent anyway
// (nodeclient.ThroughOpenBreaker, at most 64 at a time per node), off the
// caller's goroutine (a policy the other replicas meet does not wait for
// it; All does, up to the pool timeout), and its answer closes the breaker
// and so runs the node's repairs at once. Within ProbeInitial of a failed
// connect to the node, writes fail fast and are repaired as before. A replica write in the background that must
// wait for the key's earlier request to the node (unanswered on a slow
// node) waits up to five pool timeouts instead of one before it is given
// up and repaired, and one that timed out unsent in the client's queue
// (waiting for a connection to the node) is tried once more.
//
// A node that was away (frozen, partitioned, overloaded to silence) and
// answers again may hold values older than writes acknowledged while it
// was away, by any client. Its writers' repairs delete them, but each
// writer runs them only when its own breaker closes: at its next write
// answered by the node, or on its probe schedule. Two rules bound what
// readers see meanwhile:
//
//   - The client's breaker probes an open node at least every
//     DefaultProbeMax (Node.Breaker.ProbeMax, 1 s here, not the
//     transport's 10 s), plus 20 % jitter, so a writer's repairs of a
//     returning node start within about ProbeMax×1.2 + ProbeTimeout
//     (1.7 s by default) of its return.
//   - When this client's breaker of a node closes again, the node
//     serves it no hits for Config.ReturnQuarantine (4 s): its copies
//     read as misses and reads go on to the next zone, whatever DisableFallbackOnMiss says
//     (zonecache_client_quarantined_reads_total); writes and repairs go
//     to it as usual. 4 s covers the writers' repair delay above plus
//     RepairRecheck and a margin, when the writers run with the defaults
//     and their repair backlog of the node takes less than about 1 s to
//     run; a reader's own breaker closes no earlier than the node's
//     return, so its quarantine ends no earlier than 4 s after it.
//
// A repair of a replica whose write was given up while in flight (it
// timed out, or its connection failed or was reset under it) runs once
// more Config.RepairRecheck (1 s) after it first succeeds: a frozen node
// applies what sat in its socket buffer when it resumes, possibly after
// the repair's delete that came on a new connection, and the assumption
// is that a node that answered has processed its buffered requests
// within RepairRecheck. A newer repair of the same replica inherits the
// recheck until one has succeeded, the replica's reads stay gated for
// the writer until then, and the recheck is spooled with the repair (a
// replayed one runs, and is rechecked, again). A delete of a newer value
// only makes a miss.
//
// What this does not cover: a reader whose breaker of the node never
// opened (it sent the node nothing while it was away, or fewer failures
// than FailureThreshold that did not include a timeout on a silent
// connection) does not know the node was away and reads it at once. For
// it, a returning node may serve a value older than an acknowledged write
// until that write's client has repaired the node: at most about
// ProbeMax×1.2 + ProbeTimeout plus the time to run its repairs of the
// node (plus RepairRecheck for a request buffered in a frozen node) after
// the node's return, with the defaults. Per fleet kind: with a static
// topology (stock memcached) a node returns only as a breaker closing, and
// these bounds are all the client gives. With a topology that follows the
// fleet (SetTopology, discovery.Watch on zonecached), a node that comes
// back into the topology has its pending repairs run at once, but is not
// quarantined (a node that joins, or a warming node promoted, must serve
// at once), and writes made while it was out of the topology never
// targeted it, so no repair of theirs exists: the fleet must purge or
// invalidate its copies itself. The quarantine still applies when this
// client's breaker of the node had opened. A writer that exited with
// repairs pending and no spool leaves nothing to bound it.
//
// # Repairs that survive the process
//
// With Config.RepairSpoolDir empty (the default) repairs live in memory
// only: a process that exits, or is killed, before they run loses them,
// and a replica that missed a delete serves the deleted value again once
// it answers (read repair may then copy it to the other zones). With a
// directory, each client appends every repair it accepts (node ID and
// address, key, kind, expiry) to a segment file of its own there, under an
// exclusive flock, and records its end (done, or given up) in it:
//
//   - A repair is accepted when the replica's failure is known: at once
//     for a node whose breaker is open or that refuses connections, after
//     the pool's timeout for a silent one. A process that dies earlier
//     (while the failed replica's write is still in flight) leaves no
//     repair of it.
//   - The record is handed to the kernel (one write call) before the
//     repair is queued, so an accepted repair survives the process being
//     killed at any moment; the segment is fsynced every
//     Config.RepairSpoolSync (50 ms) while it has new records, so it
//     survives a machine crash after that. Healthy writes never touch the
//     spool (the README has its cost, BenchmarkSpoolCost).
//   - New adopts every segment in the directory whose flock is free (its
//     owner exited): their live repairs whose key has not expired go into
//     the new client's own segment and queue (counted in
//     zonecache_client_repair_spool_replayed_total) and the old segments
//     are deleted. A repair's node is found by ID in the new client's
//     topology, else by address; a node it does not know is treated as
//     absent (kept for RepairAbsentGrace). Several live clients may share
//     a directory. The directory must be on a local file system (flock).
//   - A segment is bounded by Config.RepairSpoolBytes (64 MiB): ended
//     records are compacted away; when live repairs fill it, a new repair
//     is kept in memory only, as without a spool, counted in
//     zonecache_client_repair_spool_full_total and logged at most once a
//     minute. The queue's Capacity bounds the live repairs too: one it
//     drops leaves the spool.
//   - The format is versioned (an 8-byte header) and each record carries a
//     CRC-32C: a record cut short by a crash, and anything after it, is
//     ignored; a segment of an unknown version is left alone.
//
// Close first gives pending repairs Config.CloseTimeout (2 s) to run, all
// made due at once, then returns an error wrapping ErrRepairsPending with
// how many are left: with a spool they stay in its segment for the next
// client started on the directory, without they are lost. A replica
// write still in flight when Close returns (bounded by the pool's timeout)
// gets no repair.
//
// Order of a client's writes. Every request a Client (with its Batch view)
// sends that changes a key on a node (Set, Add, Replace, Append, Prepend,
// CompareAndSwap, Delete, Incr, Decr and their reconciliation, Touch,
// GetAndTouch and its background touches, GetOrLoad's lease lookups and
// lease writes, read repairs, and the repair queue's deletes) reaches that
// node after every request for the same key that the client issued to it
// earlier, whatever the write policy and the pool: a call's replica writes
// take their places in the key's order on each node when the call issues
// them, and each is sent only once the one before it there has finished,
// that is, has been answered, has failed, or was given up with its
// connection reset (the transport resets a connection closed with requests
// in flight, so nothing queued in the kernel is delivered later, after a
// partition heals; a request whose caller stopped waiting keeps its place
// until its late reply is read). So the last write a caller issued for a
// key is the one every replica keeps, even when an earlier call returned
// before all its replicas had answered. Writes of different keys, and of
// one key to different nodes, do not wait for each other and pipeline as
// before. A write that cannot wait for its turn within its context and its
// pool's timeout (the one before it is stuck on a node that does not
// answer) is not sent: it fails with ErrTimeout and its replica gets a
// repair queued like any failed write. The order is per Client: writes of
// one key by two Clients or processes are not ordered against each other.
// What a reset cannot take back: a request already delivered into the
// socket buffer of a frozen node (SIGSTOP, a VM pause) before its
// connection was reset is applied when the node resumes; the repair queued
// for it is ordered after it at the client but travels on another
// connection, so the node may apply the two in either order and, until the
// key is written again or expires, keep that request's value, which may be
// older than a later write it missed, unless the repair's recheck (see "A
// node that returns") deletes it. A partition (packets dropped, not
// delivered) leaves no such request behind.
//
// # Conditional operations
//
// None is atomic across zones. Add, as in EVCache, is not one atomic step;
// zonecache makes it deterministic instead:
//
//  1. the arbiter is the key's write replica in the first zone by name
//     that answers (the same for every client, whatever its zone); Add
//     there decides: ErrNotStored if the key exists, nothing else written;
//  2. otherwise Add goes to every other replica in parallel under the
//     write policy, and a replica that already holds the key (it missed a
//     delete, or the arbiter lost the key) gets the new value with Set, so
//     all copies converge on the value the arbiter accepted.
//
// Two racing Adds of one key: exactly one wins at the arbiter; the loser
// writes nothing. What is not atomic: between steps 1 and 2 a reader in
// another zone may still see the old copy, and a Set racing the Add may
// be overwritten on some replicas by the fix-up.
//
// CompareAndSwap compares on the replica the item was read from (its
// zone's read replica of the key; the local zone's for an Item not
// returned by a read), since CAS tokens belong to one replica:
// ErrCASConflict or ErrNotFound there and nothing is written. When it
// holds, the value is Set on every other replica under the write policy
// (the CAS replica counts as one success). The other replicas are
// overwritten unconditionally, so a racing writer that went through
// another zone's replica may be overwritten there.
//
// Incr and Decr apply on every replica in parallel; if the replicas
// disagree (one missed an earlier update or lost the key), the largest
// (Incr) or smallest (Decr) value wins and is Set on the others in the
// background with the TTL the winning replica reports, as EVCache does.
// The counter is atomic on each replica but not across them: two racing
// Incrs can both be applied on every replica (correct), yet a replica that
// missed one and is then reconciled may briefly return a smaller value,
// and a reconciliation can overwrite an increment that raced it (lost
// update on that replica). A replica that fails has its copy deleted by
// the repair queue, and the next Incr restores it from the others.
//
// # Consistency guarantees
//
// What a read that begins after a write W returned success can see, in
// the terms of the sections above (the README has the same as a table,
// with the tests that measure each row):
//
//   - Healthy fleet: W, something newer, a miss, or the previous value
//     from a replica W is still in flight to (one the write policy did not
//     wait for; at most the pool timeout).
//   - One client's writes of a key reach every replica in issue order,
//     under every policy; two clients' writes are not ordered against each
//     other.
//   - A replica that failed W: this client never reads it there (the read
//     gate); other clients may, until the writer's repair lands (backoff
//     from 100 ms to Repair.MaxBackoff).
//   - A node that returns after being unreachable (static topology): a
//     client whose breaker saw it fail takes no hits from it for
//     ReturnQuarantine; one that never sent to it meanwhile may read the
//     older value until the writers' repairs ran (they start within about
//     1.7 s of the return with the default ProbeMax of 1 s).
//   - A zonecached fleet node the fleet may have dropped invalidates its
//     store before serving again, and purges keys it stops owning (package
//     server): neither depends on this client.
//   - A read repair never brings back a value deleted after its read
//     (tombstones for DeleteHoldOff).
//   - Repairs accepted by a process that exits are replayed by the next
//     client on RepairSpoolDir; without a spool they are lost and the
//     older value stays until its TTL.
//
// # Pools, keys, observability, faults
//
// Every call uses the nodes' online pools; Client.Batch returns the same
// client over the batch pools (bulk loads, warmers), which the client's own
// background writes (read repairs, delete repairs) use too. A node's batch
// pool yields to its online pool by default (Config.Node.Yield): while
// online calls run on the node, batch calls go one request at a time, in
// flight at most a quarter of the time, with GetMultis split into 16-key
// requests; the other batch callers wait (honouring their context), and
// the full batch concurrency returns once online traffic stops: batch
// slows down a lot under a saturating online load, and online latency
// stays near its unloaded level (the README has BenchmarkIsolation's
// figures); Batch.RateLimit bounds batch further, and
// Yield.Disabled restores the old behaviour. The metrics
// zonecache_client_batch_yields_total and
// zonecache_client_batch_waiting_requests show the yielding. Keys get
// Config.KeyPrefix; keys longer than memcached's 250 bytes or with spaces
// or control characters are hashed (SHA-256, base64url) and their values
// stored in an envelope with the full key, so that a hash collision reads
// as a miss (the format is in keys.go). Prometheus metrics (names
// zonecache_client_*) cover requests per operation, zone and result,
// latency, breaker states, repairs, read repairs and leases; Hooks report
// every client call as it starts and ends and every node request, so that
// a tracer can nest attempts under their call (the module
// contrib/otelzonecache does it for OpenTelemetry). Config.Faults (or
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
