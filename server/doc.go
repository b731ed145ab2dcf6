// Package server is zonecached's cache node: a TCP server that speaks
// memcached 1.6's text and meta protocols over a sharded, memory-bounded
// store (package server/internal/store).
//
// The package is public so that a Go program can embed a cache node, as
// cmd/zonecached does (and, for a fleet node, a membership.Member beside it).
//
// Any memcached client can use a zonecached node as it uses memcached 1.6:
// replies, error strings and quirks follow Debian's memcached 1.6.18, which
// the tests use as a differential oracle. The meta protocol's herd
// protection (N, R, W, Z), serve-stale (md I, X) and explicit CAS (E) flags
// are what the zonecache smart client builds leases and cross-zone version
// consistency on.
//
// On Linux, plain TCP connections are served by a few epoll loops
// (Config.EventLoops, one per GOMAXPROCS by default; eventloop_linux.go): a
// loop waits for all its connections at once, through Go's poller, and runs
// the commands of each connection that became readable, reading and writing
// the socket with raw system calls (rawio_linux.go). A loop runs only
// commands buffered whole (line and data block) and replies that the socket
// takes at once. A connection whose next command is not buffered whole (a
// large value, a value arriving in pieces, a long multi-get) is served by a
// goroutine for that command; a command that must wait (a reply larger than
// the socket buffer, the large-value budget, a metadump) first hands the
// loop to a new goroutine and finishes on the one that ran it. Either way
// the connection returns to its loop once it waits for input again, and no
// client can hold up the others of its loop. Where the kernel allows
// io_uring (Config.DisableIOURing), a loop reads all the connections of one
// wake-up with one system call at the start of its pass
// (recvbatch_linux.go) and sends all their replies with one at its end
// (sendbatch_linux.go, uring_linux.go), instead of a read and a write per
// request. After a pass over two or more connections, a loop yields its
// thread (yieldThread), so that clients sharing its cores send before the
// next pass. TLS connections, connections elsewhere than Linux and with
// EventLoops negative get one goroutine each, which serves the commands
// that arrive whole inside one wait of the poller (session.go). Replies to
// pipelined commands are written with one system call when the read buffer
// holds no further complete command.
//
// Memory is bounded: command lines are limited to 2 KiB (except multi-key get lines, which are processed as a
// stream), values larger than the item limit are read and discarded
// without being buffered, multi-key replies are written out value by
// value, and the buffers all connections hold for large values share one
// budget (half of MaxBytes, capped). A value is charged as its bytes
// arrive, so a client that announces a large value and stalls holds little
// of it; a value must arrive, and a reply holding one be read, within
// Config.ValueTimeout; when the budget is spent, a command waits for it
// (up to a second), closing meanwhile the connections stalled while
// holding some (budget.go), and only then gets memcached's out-of-memory
// error.
//
// Hostile clients (auth.go, idle.go): with Config.Credentials every
// connection must first authenticate as with memcached -Y;
// Config.DisableFlushAll refuses flush_all as memcached -F;
// Config.IdleTimeout closes idle connections as memcached's -o
// idle_timeout.
//
// Not served as memcached does: the binary protocol (a request starting
// with its magic byte closes the connection at once) and watch (answered
// as memcached -W answers it). Listings (metadump, cachedump) are written
// between chunks of a store shard, with no lock held (store.Scan);
// cache_memlimit changes the store's limit up to Config.MaxBytes
// (store.SetLimit).
//
// Requests are parsed with internal/protocol (tokenizer, number rules, meta
// flags, exptime rule), the codec the clients use; the server writes its
// replies itself. Files: server.go (lifecycle, accept, shutdown), conn.go
// (reading, flushing, buffers), eventloop_linux.go (event loops),
// rawio_linux.go (socket I/O), recvbatch_linux.go, sendbatch_linux.go and
// uring_linux.go (batched system calls), dispatch.go
// (command table), retrieval.go, storage.go, arith.go and text.go (text
// protocol), metaget.go, meta.go and metareply.go (meta protocol),
// metadump.go, stats.go, detail.go (stats detail), conns.go (stats conns),
// metrics.go, admin.go, ownership.go, fence.go and restart.go.
//
// Ownership (ownership.go). In a gossiping fleet, PurgeUnowned keeps a
// node's store free of keys it does not own: a node owns a key when, in its
// zone of the topology, it is the key's read owner or write owner
// (replication.Placement, as clients place keys). At every change of its
// zone it removes the items it does not own now and those it did not own in
// the previous view (a key coming back to it was possibly updated elsewhere
// meanwhile: its copy is older than those updates), and those whose reads it
// served in the previous view and no longer does while it still takes their
// writes beside a draining node (that node served them in a view this one
// missed, when this one was no target; a reshard's leaving node, whose
// reads a serving node took at the switch, keeps them); then it sweeps
// OwnershipConfig.Sweeps more times over OwnershipConfig.Window (default 6
// over 30 s, covering discovery's watch delay) for writes from clients whose
// view lags. It never purges on a view where the node is in no ring of its
// zone (joining, or absent from its own view) or is its zone's only owner.
// Why each move is then safe: a join keeps the old owner's copies while the
// new node warms (the old one still serves those reads and gets those
// writes) and drops them when the new one serves; a drain sends writes to
// both the draining node and the new owner, which dropped what it held
// from before the join at the promotion, or drops it now; a leave or a
// failure gives keys back to nodes that dropped their copies when they lost
// them; a failed node's return and a weight change make the survivor drop
// the keys it took over. Late writes that arrive after the window are
// dropped at the next move back, when the node regains the key. What
// remains is gossip lag: a client that learns of a move back before the
// node does can read the node's old copy until the node learns it, and a
// node that misses every view of a move (another node served and left, or
// failed, returned and failed again, between two of its gossip updates)
// cannot tell its copy is old. The
// passes go through the store a chunk of one shard at a time (store.Purge),
// so reads are not blocked, and count zonecache_server_purged_items_total.
//
// A fleet node (Config.PauseBound set, as zonecached does with --zone)
// never serves what it held before it may have been dropped from the
// fleet's topology: a heartbeat ticks every PauseBound/10 (5 to 50 ms),
// and when a connection reads commands while the last tick is older than
// PauseBound (the process was stopped or starved), the whole store is
// invalidated before they run. While membership reports the node cut off
// from most of its fleet (SetIsolated), retrievals miss, incr, decr,
// touch and ma find nothing and storage commands are refused ("SERVER_ERROR
// node cut off from its fleet"); the store is invalidated before hits are
// served again. After every invalidation retrievals miss for
// Config.RejoinQuarantine while storage commands apply, so that writers
// still cut off from the node repair it before it serves. Leaving (a node
// leaving its fleet, for good) makes retrievals miss as while isolated but
// takes writes: clients that dropped the node no longer write to it, while
// those whose view lags still read it. InvalidateAll is the same
// invalidation on
// demand (a refuted death). Every invalidation also retires the
// connections open before it: each is closed, without running them, when
// it next has commands, as they may have been sent before the node was
// dropped (a write a client gave up on, queued in the kernel during a
// pause) and must not land after the writes made meanwhile. A connection
// still in the kernel's accept queue when a pause ends is not retired.
// Each is counted in zonecache_server_invalidations_total{cause} and
// logged at warn (fence.go).
//
// Warm restart (restart.go). With Config.RestartFile set, Shutdown saves
// the store after the last command finished (store.WriteSnapshot) to a
// temporary file, synced, then renamed over the path, so the path holds a
// complete file or none; New loads it (store.ReadSnapshot: values, flags,
// expiry, CAS, the CAS counter continuing above them) and removes it, so
// that a crash later starts empty instead of serving values overwritten
// since. A file that does not validate is logged and ignored. Meant for
// standalone nodes: a fleet node that was down missed writes.
//
// The server also exports Prometheus metrics (zonecache_server_*) and an
// admin HTTP handler (/metrics, /healthz, /readyz); cmd/zonecached wires
// flags, listeners and signals around it.
package server
