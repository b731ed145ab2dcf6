// Package transport is the client's link to ONE cache node (zonecached or
// memcached ≥ 1.6): the layer the smart client stands on.
//
// A Node owns two Pools, Online and Batch, each with its own few long-lived
// TCP connections, in-flight limit, timeout and (batch) token-bucket rate
// limit, so bulk traffic never queues behind or in front of latency-critical
// traffic on a connection. A GetMulti costs one token per key; a
// rate-limited pool sends one too large for its bucket or its timeout as
// several smaller requests at the pool's rate instead of letting it time
// out (PoolConfig.RateLimit). Every connection pipelines many concurrent
// requests in the meta protocol (internal/wire). Callers append encoded
// requests to a shared write buffer: on an idle connection the caller writes
// it at once, on a busy one a writer goroutine yields once and then flushes
// everything queued in one syscall. Replies are matched in order and
// checked against each request's O (opaque) token. Whoever holds the connection's read token reads
// them: a caller on an idle connection reads its own reply (no goroutine
// hand-off, so one-at-a-time latency matches a blocking client), and a reader
// goroutine takes over while other callers wait. A request whose context ends
// returns at once, whatever it is doing: waiting for a token, a slot or its
// reply, or writing its request or reading replies itself (its socket
// deadlines are the earlier of its context's and the pool's, and the end of
// the context moves them into the past). A request that was waiting for data
// leaves the connection usable: its late reply is read and dropped. One cut
// off in the middle of its own write or of a reply leaves the connection out
// of step, so the connection is closed: the other requests on it fail with
// ErrConnClosed, which then does not count against the node's breaker (a
// missed deadline of the caller's own counts once, as a soft failure; a
// cancellation never counts). A request that outlives its pool timeout marks
// the connection as stalled: it is closed, its pending requests fail with
// ErrConnClosed, and the next request dials a replacement.
//
// A connection closed with requests in flight (stalled, cut off mid-transfer,
// failed, or closed with its Node) is reset, not closed gracefully (SO_LINGER
// 0: RST, and the kernel drops what it still queues), so that a request given
// up on is never delivered later, for example by TCP retransmissions after a
// partition heals, over a newer write of its key; only an idle connection is
// closed gracefully. What a reset cannot take back is a request already
// delivered into the node's socket buffer (a frozen node applies it when it
// resumes). A request whose caller stopped waiting (its context ended) stays
// in flight on a live connection until its reply is read: a caller that must
// order later requests after it puts a Fence in the context (WithFence), which
// is held when the call returns and released when the request is finished
// (answered, or its connection reset).
//
// The batch pool yields to the online pool (YieldConfig, on by default).
// While online requests are in flight on the node, or one finished less
// than Yield.Window (10 ms) ago, the batch pool admits at most
// Yield.InFlight (1) request at a time instead of its MaxInFlight (64);
// after each one it pauses three times as long as that request took
// (Yield.Share 0.25: batch in flight at most a quarter of the time; a pause
// lasts at most 100 ms), and it splits a GetMulti into requests of
// Yield.Chunk (16) keys. So a saturating batch load cannot fill the node's
// and the client's CPUs with batch work while online callers wait. The
// other batch callers sleep at the pool's gate in arrival order until they
// are let in, their context ends or the batch Timeout fires. Batch keeps
// making progress, slowly, and gets its full MaxInFlight back when the
// request in flight or the pause ends after online traffic stopped.
// Stats.BatchYields counts the batch requests that waited because of online
// traffic. Yielding bounds the interference, it does not remove it: the
// batch request in flight still competes with online ones for the node,
// the CPUs and the network.
//
// Each Node has a circuit breaker. A connect failure, or a timeout on a
// connection that has been silent since the request was sent, opens it at
// once; other failures (I/O errors, callers' deadlines) open it after
// BreakerConfig.FailureThreshold in a row. While open every request fails
// with ErrCircuitOpen without touching the network, and a background prober
// sends `mn` on a fresh connection with exponential backoff; the first answer
// closes the breaker. Callers therefore never wait on a dead node while the
// breaker is open. BreakerConfig.BeforeClose runs just before it closes,
// before any request can reach the node again (the client quarantines a
// returning node there); OnStateChange runs after.
//
// A node that answers the `mn` handshake with ERROR but `version` with
// VERSION (memcached before 1.6) is served in the text protocol (gets, gats,
// touch, set/add/replace/append/prepend/cas, delete, incr/decr, version);
// what it cannot express (leases, invalidation, SwapTTL) fails with
// ErrNoMeta, and its reads report TTL 0 (unknown).
//
// Keys are checked with wire.ValidateKey and values against
// Config.MaxValueSize before anything is queued; errors wrap the wire
// sentinels (wire.ErrKeyTooLong, wire.ErrKeyBadChar, wire.ErrKeyEmpty,
// ErrValueTooLarge). Results are small structs; a read miss is ErrCacheMiss.
package transport
