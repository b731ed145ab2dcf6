// Command zonecached is zonecache's cache node: a memcached 1.6 compatible
// server (text and meta protocols) with a memory-bounded store, Prometheus
// metrics and graceful shutdown. It only parses flags and wires package
// server; see that package for the behaviour.
//
// Usage:
//
//	zonecached [-p 11211] [-l 127.0.0.1] [-m 64] [-I 1m] [-c 1024]
//	           [--tls-cert FILE --tls-key FILE] [--admin-addr 127.0.0.1:12211]
//	           [--pprof] [--disable-meta] [-v] [--log-level info] [--restart-file FILE | -e FILE]
//	           [--auth-file FILE | -Y FILE] [--disable-flush-all | -F] [--idle-timeout D] [--value-timeout 10s]
//	           [--zone Z [--node-name N] [--gossip-addr 127.0.0.1:7946] [--join host:port,...]
//	            [--gossip-key-file F] [--cluster-label L] [--state warming|serving]
//	            [--gossip-profile lan|local|wan] [--gossip-probe-interval D]
//	            [--advertise-addr HOST[:PORT]] [--drain-timeout 10s]
//	            [--rejoin-interval 5s] [--require-join] [--forget-failed-after 1h]]
//
// -I may be at most half of -m, as in memcached. --disable-meta answers the
// meta commands (mg, ms, md, ma, mn, me) with ERROR, as memcached before 1.6
// does, so that clients' text-protocol fallbacks can be tested. zonecached
// -h lists every flag. --pprof serves Go's profiles under /debug/pprof/ on
// the admin listener, for measurements (`make bench-server` uses it).
//
// Memory: the process stays within server.Config.MemoryBound of its flags
// (the README gives the formula); zonecached sets the Go garbage
// collector's soft limit so that it does, unless GOMEMLIMIT is set.
//
// With --zone the node joins a gossiping fleet (package membership) and
// its admin listener also serves GET /topology and GET/POST /state. If no
// --join seed answers at start, the node starts alone and keeps joining
// them every --rejoin-interval (--require-join exits instead); it also
// rejoins failed members it remembers (--forget-failed-after), so a split
// fleet merges again. A fleet node never serves what it held before it may
// have been dropped: after a pause longer than membership.PauseBound, while
// cut off from most of the fleet and after being declared dead, its store
// is invalidated before it serves hits again (server.Config.PauseBound,
// server.Server.SetIsolated).
//
// --restart-file (or -e, as memcached) makes the store survive a restart of
// a standalone node: SIGTERM saves it, the next start loads it
// (server.Config.RestartFile). It is refused with --zone: a fleet node that
// comes back must start empty, as writes made while it was down never
// reached it.
//
// SIGTERM or SIGINT stops accepting connections, lets in-flight commands
// finish and exits 0. A fleet node first advertises draining, leaves the
// fleet and waits (at most --drain-timeout) until reads stop arriving.
package main
