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
// requests in the meta protocol (internal/protocol). Callers append encoded
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
// cancellation never counts). A request that outlives its pool timeout
// returns ErrTimeout; its connection is closed as stalled (its pending
// requests fail with ErrConnClosed, the next request dials a replacement)
// only when the node is to blame (below), otherwise the connection stays
// and the late reply is read and dropped. The pool timeout covers the
// whole call, queueing included; a request whose time ran out before it
// was sent is not sent and fails with ErrQueueTimeout (wrapping
// ErrTimeout, counted in Stats.QueueTimeouts). Once a request's own write
// has started it gets a full pool timeout to finish, and so does a reply
// once its first bytes have arrived, so a call can overrun its timeout by
// up to one timeout while the node is still sending.
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
// Each Node has a circuit breaker. It counts only what the node is to
// blame for, so that an overloaded client or a slow node is not taken for a
// dead one. Time a request spends in the client never counts: waiting for
// a rate-limit token, an in-flight slot or a connection, or on its
// connection behind other requests whose replies are still arriving, or
// with its reply already in the socket while the client's reader is short
// of CPU. A timed-out request (pool timeout or the caller's deadline) is
// the node's fault only when it was written (handed to a write, not
// still waiting for a busy writer), nothing arrived on its connection
// since, it spent at least three quarters of its wait on the wire, and no
// reply bytes sit unread in the socket; and a connection with a written
// request pending that has received nothing for a whole pool timeout is
// stalled. A connect failure (unless the node's handshake
// reply was in the socket, unread, when DialTimeout passed), a stalled
// connection, or a
// pool timeout the node is to blame for opens the breaker at once; other
// failures (I/O errors, callers' deadlines the node is to blame for) open
// it after BreakerConfig.FailureThreshold in a row. So a frozen, killed or
// partitioned node, which sends nothing, opens it within about one pool
// timeout as before (0.5-1 s after SIGSTOP with the default 500 ms under a
// saturating load, in the tests), while a node that keeps answering, even
// late, does not: under a steady load of independent requests a node whose
// every reply comes later than the timeout keeps its breaker closed (every
// request times out and its caller falls back). What cannot be told from a
// frozen node is a connection that receives nothing for a request's whole
// wait: a lone request, or callers in lock-step, to a node slower than the
// timeout open the breaker, and the prober closes it once the node answers
// within ProbeTimeout. A connection kept after a request on it was given
// up (the node was not blamed) is checked every pool timeout while
// requests wait on it, and reset with the breaker opened once stalled, so
// a node that goes silent afterwards cannot hold that request for ever.
// Stats.BreakerFailures counts the failures the
// breaker was given. While open every request fails with ErrCircuitOpen
// without touching the network, and a background prober sends `mn` on a
// fresh connection with exponential backoff; the first answer closes the
// breaker. Callers therefore never wait on a dead node while the breaker
// is open. BreakerConfig.BeforeClose runs just before it closes, before
// any request can reach the node again (the client quarantines a returning
// node there); OnStateChange runs after.
//
// A node that answers the `mn` handshake with ERROR but `version` with
// VERSION (memcached before 1.6) is served in the text protocol (gets, gats,
// touch, set/add/replace/append/prepend/cas, delete, incr/decr, version);
// what it cannot express (leases, invalidation, SwapTTL) fails with
// ErrNoMeta, and its reads report TTL 0 (unknown).
//
// Keys are checked with protocol.ValidateKey and values against
// Config.MaxValueSize before anything is queued; errors wrap the wire
// sentinels (protocol.ErrKeyTooLong, protocol.ErrKeyBadChar, protocol.ErrKeyEmpty,
// ErrValueTooLarge). Results are small structs; a read miss is ErrCacheMiss.
package nodeclient
