// Package client is zonecache's smart client, the library services embed:
// a replicated, zone-aware memcached client in the style of Netflix's
// EVCache, speaking the meta protocol to zonecached or memcached ≥ 1.6
// (and the text protocol to older nodes).
//
// This is the summary; docs/client.md in the repository has every rule in
// full, and the README's consistency table the tests that measure them.
//
// # Placement
//
// A Topology (package replication) lists every node with its zone,
// address, weight and state. Keys are placed by replication.Placement, the
// rule the warmer, resharding and the servers' ownership purge share: per
// zone a read ring (serving, draining nodes) and a write ring (warming,
// serving). SetTopology swaps one immutable view atomically.
//
// # Reads
//
// Get, GetMulti and GetAndTouch read the local zone first, then the others
// (Config.ZonePreference), moving on after an error, a timeout, an open
// circuit breaker or a miss. A value found in another zone is written back
// to the local replica (read repair, an Add that a delete's tombstone
// refuses). Lookups are de-duplicated per request (WithRequestScope,
// ScopeMiddleware) and across concurrent calls in the process.
//
// # Read-through and tier-down
//
// GetOrLoad adds a loader and herd protection at three levels: the request
// scope, one load per key per process, and a memcached lease in one zone
// every client agrees on (Config.LeaseZone), degrading to per-process
// singleflight on nodes without meta commands. When the whole tier fails,
// Get, GetMulti and GetOrLoad's lookup are hedged (Config.ReadHedge), so
// a frozen tier costs one timeout; keys whose replicas all have open
// breakers skip the cache, and loader calls go through a bulkhead
// (Config.LoadConcurrency, LoadRate) that answers ErrOriginBusy or a stale
// value from the opt-in near cache (Config.NearCache) beyond its budget.
// Config.HotKeys finds hot keys (Client.HotKeys, Client.HotKeysHandler).
//
// # Writes
//
// Writes go to every zone's replica in parallel and return once
// Config.WritePolicy is met (all-minus-one by default). A write is never
// skipped because a breaker is open (nodeclient.ThroughOpenBreaker): other
// clients may still read that node. A replica that fails gets a delete
// queued for repair (optionally spooled to disk, Config.RepairSpoolDir, so
// it survives the process), and this client does not read that replica's
// copy until the repair has landed. One client's
// writes of a key reach every replica in issue order. Delete leaves a
// tombstone for Config.DeleteHoldOff so no read repair brings the value
// back. Add, CompareAndSwap, Incr and Decr are made deterministic across
// zones but are not atomic across them. For Config.FormerOwnerWindow after
// a topology change, a write also deletes the key where the views
// replaced read it, when it is not written there now (as mcrouter's
// MigrateRoute sends deletes to both pools): a client whose view lags
// still reads there.
//
// # Consistency
//
// A read that begins after a write returned success sees that write,
// something newer, or a miss, except within stated windows: a replica the
// write is still in flight to, a replica that failed the write and answers
// other clients until the writer's repair lands, and a node that returns
// after being away (bounded by Config.ReturnQuarantine here and by the
// server's own fences on zonecached fleets). docs/client.md states each
// bound.
//
// # Pools and operations
//
// Calls use the nodes' online pools; Client.Batch returns the same client
// over the batch pools, which yield to online traffic (Config.Node.Yield).
// Long or binary-unsafe keys are hashed into an envelope. Metrics are
// named zonecache_client_*; Hooks report every call and node request for
// tracing (contrib/otelzonecache); Config.Faults injects errors and delays
// to prove fallbacks. Errors wrap sentinels (ErrTimeout, ErrCircuitOpen,
// ErrNotFound, ErrOriginBusy, ...) for errors.Is.
package client
