// Command zonecached is zonecache's cache node: a memcached 1.6 compatible
// server (text and meta protocols) with a memory-bounded store, Prometheus
// metrics and graceful shutdown. It only parses flags and wires package
// server; see that package for the behaviour.
//
// Usage:
//
//	zonecached [-p 11211] [-l 127.0.0.1] [-m 64] [-I 1m] [-c 1024] [-t N] [-U 0] [-B ascii] [--event-loops N]
//	           [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE] [--tls-handshake-timeout 5s]]
//	           [--admin-addr 127.0.0.1:12211]
//	           [--admin-token-file FILE | --admin-insecure] [--admin-max-conns 64]
//	           [--pprof] [--disable-meta] [-v] [--log-level info] [--log-format text|json]
//	           [--version] [--restart-file FILE | -e FILE]
//	           [--auth-file FILE | -Y FILE] [--disable-flush-all | -F] [--idle-timeout D] [--value-timeout 10s]
//	           [--zone Z [--node-name N] [--gossip-addr 127.0.0.1:7946] [--join host:port,...]
//	            (--gossip-key-file F | --gossip-insecure) [--cluster-label L] [--state serving|warming]
//	            [--gossip-profile lan|local|wan] [--gossip-probe-interval D]
//	            [--advertise-addr HOST[:PORT]] [--drain-timeout 10s] [--rejoin-quarantine 4s]
//	            [--weight 1] [--weight-file FILE]
//	            [--rejoin-interval 5s] [--require-join] [--forget-failed-after 1h]]
//
// -I may be at most half of -m, as in memcached. -t sets GOMAXPROCS, the
// threads running Go code at once, as memcached's -t sets its workers; -U 0
// and -B ascii are accepted so that a memcached command line starts
// zonecached (it serves no UDP and no binary protocol, and refuses other
// values). --event-loops sets how many epoll loops serve plain TCP
// connections (default one per thread; -1: a goroutine per connection, as
// TLS connections always have). --disable-meta answers the
// meta commands (mg, ms, md, ma, mn, me) with ERROR, as memcached before 1.6
// does, so that clients' text-protocol fallbacks can be tested. zonecached
// -h lists every flag. --pprof serves Go's profiles under /debug/pprof/ on
// the admin listener, for measurements (`make bench-server` uses it).
//
// The admin listener wants the bearer token of --admin-token-file (a file
// of mode 0600 or stricter, else zonecached refuses to start) on requests
// that change the node (any method but GET and HEAD: POST /state and
// /weight), and refuses them without one configured unless --admin-insecure; it refuses
// requests from another Origin and changes not sent as application/json,
// so a web page cannot make them. It holds at most --admin-max-conns
// connections (a new one replaces the longest idle keep-alive, or is
// closed), each with header, read, write and idle timeouts.
//
// Memory: the process stays within server.Config.MemoryBound of its flags
// (the README gives the formula); zonecached sets the Go garbage
// collector's soft limit so that it does, unless GOMEMLIMIT is set.
//
// --tls-client-ca requires client certificates (mutual TLS); a connection
// that has not finished its TLS handshake within --tls-handshake-timeout
// is closed (server.Config.TLSHandshakeTimeout).
//
// With --zone the node joins a gossiping fleet (package membership) and
// its admin listener also serves GET /topology, GET/POST /state, GET /node
// (its id), POST /weight (a reshard's weight change) and the gossip
// keyring (GET /gossip/keys, POST /gossip/keys/{install,use,remove});
// its /readyz answers 503 with the reason unless the node serves reads.
// A fleet node refuses to start without --gossip-key-file, or with a key
// file its group or others may access, unless --gossip-insecure. It
// starts serving (--state warming: a node added to a fleet, promoted once
// warmed, logs that it serves no reads until then). If no
// --join seed answers at start, the node starts alone and keeps joining
// them every --rejoin-interval (--require-join exits instead); it also
// rejoins failed members it remembers (--forget-failed-after), so a split
// fleet merges again. A fleet node never serves what it held before it may
// have been dropped: after a pause longer than membership.PauseBound, while
// cut off from most of the fleet or held dead by a member of it, its store
// is invalidated before it serves hits again (server.Config.PauseBound,
// server.Server.SetIsolated), and then it serves no hits for
// --rejoin-quarantine while it takes writes.
//
// --weight sets the node's weight in its zone's ring at start. With
// --weight-file the node keeps there the weights set at runtime (POST
// /weight, a reshard), rewriting the file before it advertises them, and
// starts with them: a restart keeps them without editing --weight, and a
// different --weight is refused (it would move keys without copying
// them); without it a runtime change logs that the node must be restarted
// with its new --weight.
//
// --restart-file (or -e, as memcached) makes the store survive a restart of
// a standalone node: SIGTERM saves it, the next start loads it
// (server.Config.RestartFile). It is refused with --zone: a fleet node that
// comes back must start empty, as writes made while it was down never
// reached it.
//
// SIGTERM or SIGINT stops accepting connections, lets in-flight commands
// finish and exits 0. A serving fleet node first advertises draining (the
// only draining node of its zone advertises warming, and waits until reads
// stop arriving, so that clients read its keys' new owners; a node that
// serves no reads advertises nothing), leaves the fleet and waits (at most
// --drain-timeout in all) until reads stop arriving; from the leave on it
// serves no hits (server.Server.Leaving).
package main
