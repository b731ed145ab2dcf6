package server

import (
	"crypto/tls"
	"log/slog"
	"runtime"
	"time"
)

// Defaults applied to zero Config fields.
const (
	// DefaultAddr is where ListenAndServe listens: loopback only, like
	// Debian's memcached package.
	DefaultAddr = "127.0.0.1:11211"
	// DefaultMaxBytes is the store's memory limit (memcached -m 64).
	DefaultMaxBytes = 64 << 20
	// DefaultMaxItemSize is the largest item accepted (memcached -I 1m).
	DefaultMaxItemSize = 1 << 20
	// DefaultMaxConns is the connection limit (memcached -c 1024).
	DefaultMaxConns = 1024
	// DefaultRejoinQuarantine is Config.RejoinQuarantine's default.
	DefaultRejoinQuarantine = 4 * time.Second
	// DefaultTLSHandshakeTimeout bounds a TLS client's handshake.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultValueTimeout bounds how long a large value may take to
	// arrive, or a reply holding one to be taken (Config.ValueTimeout).
	DefaultValueTimeout = 10 * time.Second
	// Version is what the version command and stats report. It starts with
	// "1.6." because clients (memccapable among them) pick protocol
	// behaviour from it.
	Version = "1.6.18-zonecache"
)

// Config configures a Server. The zero value of every field selects the
// documented default.
//
// Memory: under any load the server stays within MemoryBound,
//
//	-m + min(max(-m/2, 4×-I), max(32 MiB, 4×-I)) + -c × PerConnBytes (212 KiB)
//	   + loops × LoopBytes (352 KiB) + RuntimeBytes (32 MiB)
//
// that is MaxBytes for the store (items and index), the large-value
// buffer budget (at most 32 MiB unless four items of MaxItemSize need
// more), each connection's own buffers, each event loop's io_uring
// batches, and the runtime (MemoryBound also counts admin connections).
type Config struct {
	// Addr is the TCP address ListenAndServe listens on. Default
	// DefaultAddr (127.0.0.1:11211); all interfaces only when asked, for
	// example ":11211".
	Addr string
	// MaxBytes bounds the memory the store uses for items. Default 64 MiB.
	MaxBytes int64
	// MaxItemSize is the largest item, counted as memcached counts it (key,
	// value and 59 bytes: store.LimitedSize); at most half of MaxBytes, as
	// memcached requires. Default 1 MiB.
	MaxItemSize int
	// MaxConns is the number of client connections served at once; more
	// are answered "ERROR Too many open connections" and closed.
	// Default 1024.
	MaxConns int
	// AdminConns is the number of connections the admin HTTP listener run
	// beside the server (zonecached's --admin-max-conns) may hold at once,
	// counted in MemoryBound at AdminConnBytes each. Default 0: none.
	AdminConns int
	// TLS, when set, makes Serve and ListenAndServe speak TLS. Set
	// ClientAuth and ClientCAs to require client certificates.
	TLS *tls.Config
	// TLSHandshakeTimeout bounds the TLS handshake of a new connection,
	// which holds one of MaxConns until it completes: a client that never
	// sends a ClientHello is closed after it. Default
	// DefaultTLSHandshakeTimeout (5 s).
	TLSHandshakeTimeout time.Duration
	// DisableMeta makes the server answer the meta commands (mg, ms, md,
	// ma, mn, me) with ERROR, as memcached before 1.6 does, so that
	// clients' text-protocol fallbacks can be tested against a real
	// server. Default false: meta commands are served.
	DisableMeta bool
	// Logger receives connection and lifecycle events. Default
	// slog.Default().
	Logger *slog.Logger
	// PauseBound, when positive, starts a heartbeat (a tick every tenth
	// of it, 5 to 50 ms): when a connection reads commands and the last
	// tick is older than PauseBound (the process was stopped or starved),
	// the whole store is invalidated before they run, as the fleet may
	// have dropped the node meanwhile and sent newer writes elsewhere.
	// Counted in zonecache_server_invalidations_total{cause="pause"}.
	// Set it below the time the fleet can take to drop a node
	// (membership.PauseBound). Default 0: no heartbeat (a standalone node).
	PauseBound time.Duration
	// RejoinQuarantine is how long, after the store was invalidated
	// because the node may have been out of the fleet (a pause, the end of
	// an isolation, a refuted death), retrievals miss while storage
	// commands are applied. Writers whose circuit breaker of the node is
	// still open cannot reach it yet: their writes reach it only through
	// their repairs, which run once their breakers close (a probe at least
	// every client.DefaultProbeMax), so until then a value another client
	// stored may be older than an acknowledged write. Default
	// DefaultRejoinQuarantine (4 s, the client's ReturnQuarantine);
	// negative: hits are served at once.
	RejoinQuarantine time.Duration
	// RestartFile, when set, makes the store survive a restart, as
	// memcached's -e: New loads the file (then removes it, so that a crash
	// later starts empty), and Shutdown saves the store to it after the
	// last command finished, through a temporary file renamed over it.
	// Items keep their values, flags, expiry and CAS. A file that does not
	// validate is logged and ignored. Default "": no restart file.
	RestartFile string
	// Credentials, when set, make every connection authenticate first, as
	// memcached -Y does: until "set <key> <flags> <exptime> <bytes>" brings
	// "<username> <password>" of one of them as data (answered STORED),
	// every command is answered "CLIENT_ERROR unauthenticated". Default
	// none: no authentication.
	Credentials []Credential
	// DisableFlushAll answers flush_all "CLIENT_ERROR flush_all not
	// allowed", as memcached -F does. Default false.
	DisableFlushAll bool
	// IdleTimeout closes a connection that has waited this long for a
	// command, as memcached -o idle_timeout (checked every second).
	// Default 0: idle connections stay open.
	IdleTimeout time.Duration
	// ValueTimeout bounds the time a value too large for the read buffer
	// may take to arrive, and a reply holding one to be written: past it
	// the connection is closed and its share of the large-value budget
	// released, so that stalled clients cannot pin the budget. Default
	// DefaultValueTimeout; negative: no bound.
	ValueTimeout time.Duration
	// EventLoops is the number of epoll loops that serve plain TCP
	// connections (not TLS ones) on Linux, instead of a goroutine each:
	// a loop runs the commands of every connection that became readable
	// in one wake-up, which saves the scheduling of a goroutine per
	// request. A command that has to wait moves its connection to a
	// goroutine first, so no client stalls a loop. Default 0: GOMAXPROCS
	// at New; negative: none, every connection keeps its goroutine.
	EventLoops int
	// DisableIOURing makes the event loops read each request and write
	// each reply with a system call of its own. By default a loop reads
	// every connection its wait found readable with one io_uring system
	// call, and sends the replies of the pass with one, where the kernel
	// allows io_uring (Linux 5.6 or later, not disabled by sysctl
	// kernel.io_uring_disabled or a seccomp filter); elsewhere it reads
	// and writes each, as with this set.
	DisableIOURing bool
	// Now returns the current time; tests inject a clock. Default: the
	// system clock read by a ticker every 100 ms (expiry is in whole
	// seconds, and reading the system clock per command is costly).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxItemSize <= 0 {
		c.MaxItemSize = DefaultMaxItemSize
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RejoinQuarantine == 0 {
		c.RejoinQuarantine = DefaultRejoinQuarantine
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ValueTimeout == 0 {
		c.ValueTimeout = DefaultValueTimeout
	}
	if c.EventLoops == 0 {
		c.EventLoops = runtime.GOMAXPROCS(0)
	}
	return c
}

// Credential is one user of Config.Credentials: a line "username:password"
// of memcached's authfile.
type Credential struct {
	Username, Password string
}
