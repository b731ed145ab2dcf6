package nodeclient

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"
)

// Defaults applied to zero fields of Config, PoolConfig, YieldConfig and
// BreakerConfig.
const (
	DefaultOnlineConns       = 2
	DefaultOnlineMaxInFlight = 1024
	DefaultOnlineTimeout     = 500 * time.Millisecond
	DefaultBatchConns        = 1
	DefaultBatchMaxInFlight  = 64
	DefaultBatchTimeout      = 5 * time.Second
	DefaultDialTimeout       = 500 * time.Millisecond
	DefaultFailureThreshold  = 3
	DefaultProbeInitial      = 100 * time.Millisecond
	DefaultProbeMax          = 10 * time.Second
	DefaultYieldInFlight     = 1
	DefaultYieldWindow       = 10 * time.Millisecond
	DefaultYieldShare        = 0.25
	DefaultYieldChunk        = 16
	// DefaultMaxValueSize is memcached's default 1 MiB item limit minus
	// room for the item header, CAS, key and line endings.
	DefaultMaxValueSize = 1<<20 - 512
)

// Config configures a Node. The zero value uses every default; package
// client, package warm and the benchmarks embed it.
type Config struct {
	// Online is the pool for latency-critical requests (defaults
	// DefaultOnline*).
	Online PoolConfig
	// Batch is the pool for bulk work: warmers, backfills, repairs
	// (defaults DefaultBatch*).
	Batch PoolConfig
	// Yield makes the batch pool give way to online traffic on the node
	// (on by default).
	Yield YieldConfig
	// Breaker configures the node's circuit breaker.
	Breaker BreakerConfig
	// DialTimeout bounds connecting plus the `mn` handshake on a new
	// connection (and the TLS handshake before it).
	DialTimeout time.Duration
	// TLS, when set, makes every connection to the node (pools, probes,
	// Dial) TLS with this config; a client certificate in it answers a
	// node that requires one. An empty ServerName is taken from the
	// node's address. Default nil: plain TCP.
	TLS *tls.Config
	// Auth, when set, authenticates each new connection to a node that
	// requires it (zonecached --auth-file, memcached -Y) before use; a node
	// that requires it refuses connections without it (ErrAuth). Default
	// nil: none sent.
	Auth *Credentials
	// MaxValueSize is the largest value a store may send; larger ones
	// fail with ErrValueTooLarge before anything is sent.
	MaxValueSize int
	// Logger receives breaker transitions and connection failures
	// (default slog.Default()).
	Logger *slog.Logger
}

// PoolConfig configures one pool of a Node. Zero fields take the pool's
// defaults.
type PoolConfig struct {
	// Conns is the number of long-lived connections; each pipelines many
	// requests.
	Conns int
	// MaxInFlight bounds the pool's requests waiting for a reply; further
	// callers wait for a slot.
	MaxInFlight int
	// Timeout bounds each request, queueing included; one still queued in
	// the client when it passes is not sent (ErrQueueTimeout).
	Timeout time.Duration
	// RateLimit, when > 0, limits the pool to this many requests (keys,
	// for GetMulti) per second; a large GetMulti is sent as several
	// requests at that rate rather than refused.
	RateLimit float64
	// RateBurst is the rate limit's bucket size (default: one second's
	// worth of RateLimit, at least 1).
	RateBurst int
}

// YieldConfig configures how a Node's batch pool gives way to its online
// pool: while online requests run, the batch pool admits fewer requests,
// paces them and splits its GetMultis, so that it cannot crowd them out.
type YieldConfig struct {
	// Disabled turns yielding off: the batch pool always admits
	// MaxInFlight requests.
	Disabled bool
	// InFlight is the batch pool's in-flight limit while online traffic
	// is active (capped at the batch MaxInFlight).
	InFlight int
	// Window is how long online traffic counts as active after its last
	// request finished, so that one caller's gaps do not let batch back in.
	Window time.Duration
	// Share is the fraction of time batch requests may be in flight while
	// online traffic is active; 1 or more turns pacing off.
	Share float64
	// Chunk is the most keys a batch GetMulti sends in one request while
	// online traffic is active; a negative Chunk sends every GetMulti whole.
	Chunk int
}

// BreakerConfig configures a Node's circuit breaker, which opens on
// failures the node is to blame for and closes when a probe is answered.
type BreakerConfig struct {
	// FailureThreshold is how many failures in a row open the breaker (a
	// connect failure or a stalled connection opens it at once).
	FailureThreshold int
	// ProbeInitial is the delay before the first probe after opening; each
	// failed probe doubles it, with jitter, up to ProbeMax.
	ProbeInitial time.Duration
	// ProbeMax is the longest delay between probes.
	ProbeMax time.Duration
	// ProbeTimeout bounds one probe: dial plus `mn` (default DialTimeout).
	ProbeTimeout time.Duration
	// OnStateChange, if set, is called on every transition, from the
	// goroutine that caused it; it must not block.
	OnStateChange func(addr string, from, to State)
	// BeforeClose, if set, is called just before the breaker closes, before
	// any request can reach the node again (so a caller can stop trusting
	// the returning node's data first). It must not block.
	BeforeClose func(addr string)
}

func (c Config) withDefaults() Config {
	c.Online = c.Online.withDefaults(DefaultOnlineConns, DefaultOnlineMaxInFlight, DefaultOnlineTimeout)
	c.Batch = c.Batch.withDefaults(DefaultBatchConns, DefaultBatchMaxInFlight, DefaultBatchTimeout)
	if c.Yield.InFlight <= 0 {
		c.Yield.InFlight = DefaultYieldInFlight
	}
	if c.Yield.Window <= 0 {
		c.Yield.Window = DefaultYieldWindow
	}
	if c.Yield.Share <= 0 {
		c.Yield.Share = DefaultYieldShare
	}
	if c.Yield.Chunk == 0 {
		c.Yield.Chunk = DefaultYieldChunk
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MaxValueSize <= 0 {
		c.MaxValueSize = DefaultMaxValueSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	b := &c.Breaker
	if b.FailureThreshold <= 0 {
		b.FailureThreshold = DefaultFailureThreshold
	}
	if b.ProbeInitial <= 0 {
		b.ProbeInitial = DefaultProbeInitial
	}
	if b.ProbeMax <= 0 {
		b.ProbeMax = DefaultProbeMax
	}
	if b.ProbeMax < b.ProbeInitial {
		b.ProbeMax = b.ProbeInitial
	}
	if b.ProbeTimeout <= 0 {
		b.ProbeTimeout = c.DialTimeout
	}
	return c
}

func (p PoolConfig) withDefaults(conns, inFlight int, timeout time.Duration) PoolConfig {
	if p.Conns <= 0 {
		p.Conns = conns
	}
	if p.MaxInFlight <= 0 {
		p.MaxInFlight = inFlight
	}
	if p.Timeout <= 0 {
		p.Timeout = timeout
	}
	if p.RateLimit > 0 && p.RateBurst <= 0 {
		p.RateBurst = max(1, int(p.RateLimit))
	}
	return p
}

// Dial connects to addr as a Node does: over TCP, or over TLS when c.TLS is
// set, the TLS handshake included, within ctx. Commands that speak to a
// node outside a Node (metadump, stats) dial with it.
func (c Config) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if c.TLS == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	d := tls.Dialer{Config: c.TLS}
	return d.DialContext(ctx, "tcp", addr)
}
