package nodeclient

import (
	"log/slog"
	"time"
)

// Defaults applied to zero fields of Config, PoolConfig and BreakerConfig.
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

// Config configures a Node. The zero value uses every default.
type Config struct {
	// Online is the pool for latency-critical requests. Defaults: 2
	// connections, 1024 requests in flight, 500 ms timeout, no rate limit.
	Online PoolConfig
	// Batch is the pool for bulk work (warmers, backfills, repairs).
	// Defaults: 1 connection, 64 requests in flight, 5 s timeout, no rate
	// limit unless RateLimit is set.
	Batch PoolConfig
	// Yield makes the batch pool give way to online traffic on the node
	// (on by default: while online requests run, 1 batch request in flight
	// at most a quarter of the time, GetMultis split into 16 keys).
	Yield YieldConfig
	// Breaker configures the node's circuit breaker.
	Breaker BreakerConfig
	// DialTimeout bounds connecting plus the `mn` handshake on a new
	// connection (default 500 ms).
	DialTimeout time.Duration
	// MaxValueSize is the largest value a store may send (default
	// DefaultMaxValueSize); larger ones fail with ErrValueTooLarge.
	MaxValueSize int
	// Logger receives breaker transitions and connection failures
	// (default slog.Default()).
	Logger *slog.Logger
}

// PoolConfig configures one pool of a Node. Zero fields take the pool's
// defaults (see Config).
type PoolConfig struct {
	// Conns is the number of long-lived connections; each pipelines many
	// requests.
	Conns int
	// MaxInFlight bounds the requests of this pool waiting for a reply;
	// further callers wait (honouring their context and Timeout).
	MaxInFlight int
	// Timeout bounds each request, queueing included, unless the caller's
	// context ends first: one still queued in the client when it passes is
	// not sent (ErrQueueTimeout). A request that outlives it on a silent
	// connection closes the connection as stalled and opens the breaker;
	// on a connection that is receiving replies it returns ErrTimeout and
	// counts against nothing (see the package doc). A write or a reply
	// already under way gets a full Timeout to complete.
	Timeout time.Duration
	// RateLimit, when > 0, is a token-bucket limit in requests (keys, for
	// GetMulti) per second; 0 means no limit. A GetMulti is never refused
	// for its size: one with more keys than the bucket holds, or than
	// accrue in half of Timeout, goes as several requests of at most
	// min(RateBurst, RateLimit*Timeout/2) keys (at least 1), one after the
	// other, each admitted, and timed out, on its own. So it completes at
	// the pool's rate (a GetMulti of n keys takes about n/RateLimit seconds
	// once the bucket is empty), bounded by the caller's context, where a
	// single request would wait for more tokens than its timeout allows.
	// Hits come back merged; on an error the hits so far come with it.
	RateLimit float64
	// RateBurst is the bucket size (default: one second's worth of
	// RateLimit, at least 1).
	RateBurst int
}

// YieldConfig configures how a Node's batch pool yields to its online pool.
// Online traffic is active while an online request is in flight or one
// finished less than Window ago. Then the batch pool admits at most
// InFlight requests at a time instead of its MaxInFlight, keeps them in
// flight at most Share of the time, and splits GetMultis into Chunk keys;
// the other batch callers wait their turn in arrival order (honouring
// their context and the batch Timeout) without using CPU. Batch always
// makes progress: InFlight is at least 1 and a pause lasts at most 100 ms.
// When online traffic stops, the next batch request to finish (or the end
// of the pause) lets the full MaxInFlight in again.
type YieldConfig struct {
	// Disabled turns yielding off: the batch pool always admits
	// MaxInFlight requests.
	Disabled bool
	// InFlight is the batch pool's in-flight limit while online traffic is
	// active (default 1; capped at the batch MaxInFlight).
	InFlight int
	// Window is how long online traffic counts as active after its last
	// request finished (default 10 ms), so that the gaps between one
	// caller's requests do not let the batch load back in.
	Window time.Duration
	// Share paces the batch pool while online traffic is active, so that
	// batch requests are in flight at most this fraction of the time: after
	// a batch request that took d, the pool admits the next one
	// d*(1-Share)/Share later (at most 100 ms later). The pause follows the
	// batch requests' own latency, so batch backs off further when the node
	// or the client's CPUs are congested. Default 0.25; 1 or more turns
	// pacing off (InFlight alone limits the batch pool).
	Share float64
	// Chunk is the most keys a batch GetMulti sends in one request while
	// online traffic is active (default 16): a larger GetMulti goes as
	// several requests, one after the other, each admitted and paced on
	// its own, so that no single batch request holds the node and the
	// client's CPU for long. Hits come back merged; on an error the hits so
	// far come with it. A negative Chunk sends every GetMulti whole.
	Chunk int
}

// BreakerConfig configures a Node's circuit breaker.
type BreakerConfig struct {
	// FailureThreshold is how many failures in a row open the breaker
	// (default 3, like mcrouter's timeouts-until-tko). A connect failure or
	// a timeout on a silent connection opens it at once. Only failures the
	// node is to blame for count: never time spent queued in the client,
	// nor a timeout on a connection that kept receiving replies (see the
	// package doc).
	FailureThreshold int
	// ProbeInitial is the delay before the first probe after opening
	// (default 100 ms); each failed probe doubles it up to ProbeMax
	// (default 10 s), plus up to 20 % jitter. If the breaker re-opens less
	// than ProbeMax after closing (a node that answers probes but fails
	// requests), probing resumes from double the last delay instead.
	ProbeInitial time.Duration
	ProbeMax     time.Duration
	// ProbeTimeout bounds one probe: dial plus `mn` (default DialTimeout).
	ProbeTimeout time.Duration
	// OnStateChange, if set, is called on every transition, from the
	// goroutine that caused it; it must not block.
	OnStateChange func(addr string, from, to State)
	// BeforeClose, if set, is called by the prober after a successful
	// probe, just before the breaker closes and requests flow to the node
	// again (OnStateChange is called after): a caller that must stop
	// trusting the returning node's data does so before any request can
	// reach it. It must not block.
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
