// Package nodeclient is a client for ONE memcached-protocol cache node
// (zonecached, or memcached ≥ 1.6; older memcached through the text
// protocol): the layer the smart client (package client), the warmer
// (package warm) and the benchmarks stand on, each embedding its Config.
// Use it alone to talk to one node; use package client for zones,
// replication and fallback.
//
// A Node has two Pools, Online for latency-critical requests and Batch for
// bulk work (with its own in-flight limit, timeout and optional rate
// limit, and yielding to online traffic), so that bulk traffic never
// queues in front of a user's request. Every connection pipelines many
// concurrent requests in the meta protocol; a caller on an idle connection
// writes its request and reads its own reply, with no goroutine hand-off.
//
// Every request honours its context and its pool's timeout. A circuit
// breaker per Node counts only the failures the node is to blame for (not
// time spent queued in a busy client) and, while open, fails requests at
// once with ErrCircuitOpen until a background probe gets an answer, except
// those under ThroughOpenBreaker (the smart client's writes), which are
// sent and whose answer closes it too. A
// connection given up with requests in flight is reset, so that they are
// never delivered later; a Fence (WithFence) tells a caller when a request
// it stopped waiting for is really finished.
//
// Config.TLS makes every connection TLS, pools and probes alike, with a
// client certificate when the node requires one; Config.Dial connects the
// same way for commands sent outside a Node (metadump, stats).
// With Config.Auth, each new connection to a node that asks for it
// (zonecached --auth-file, memcached -Y) authenticates with memcached's
// text-protocol set before use; Authenticate does the same for a tool's
// raw connection.
//
// Outcomes are sentinel errors for errors.Is: a read miss is ErrCacheMiss,
// a refused conditional store ErrNotStored. The README's nodeclient section
// has the figures: defaults, when the breaker opens, how batch yields.
package nodeclient
