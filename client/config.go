package client

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// Defaults of Config's zero fields.
const (
	DefaultLeaseTTL          = 5 * time.Second
	DefaultLeaseWait         = 2 * time.Second
	DefaultReadRepairWorkers = 64
	DefaultNodeGrace         = 10 * time.Second
	DefaultRepairInterval    = 50 * time.Millisecond
	DefaultRepairAbsentGrace = 10 * time.Minute
	DefaultRepairSpoolBytes  = 64 << 20
	DefaultRepairSpoolSync   = 50 * time.Millisecond
	DefaultCloseTimeout      = 2 * time.Second
	DefaultDeleteHoldOff     = 3 * time.Second
	DefaultFormerOwnerWindow = 30 * time.Second
	// MaxPrefixLength bounds Config.KeyPrefix so that a hashed key always
	// fits memcached's 250 bytes.
	MaxPrefixLength = 150
)

// Config configures a Client. Only Zone and Topology are required; every
// other zero field means the documented default.
type Config struct {
	// Zone is the client's own availability zone: reads go there first.
	Zone string
	// Topology is the initial fleet; SetTopology replaces it at run time.
	Topology replication.Topology
	// ZonePreference orders the other zones for reads after the local one;
	// zones not named follow in name order (replication.ReadOrder).
	ZonePreference []string
	// DisableFallbackOnMiss stops a read at the first zone that answers,
	// even with a miss. By default (false) a miss goes on to the next zone,
	// as EVCache does; errors, timeouts and open breakers always go on.
	DisableFallbackOnMiss bool
	// DisableReadRepair turns off writing a value found in another zone
	// back to the local replica. By default it is on: an Add with the
	// item's remaining TTL, through the batch pool, in the background.
	DisableReadRepair bool
	// ReadHedge is how long a read (Get, a step of GetOrLoad) waits
	// for a zone's replica before also asking every later zone, each with
	// its own timeout; the answers are still taken in read order. So a
	// tier that stops answering (every node frozen) costs a read one pool
	// timeout plus ReadHedge, not one timeout per zone. Default: the pool
	// timeout / DefaultReadHedgeDivisor (100 ms online); negative: zones
	// one after another, as before.
	ReadHedge time.Duration
	// ReadRepairWorkers bounds concurrent read repairs (default 64); a
	// repair that finds them all busy is dropped and counted.
	ReadRepairWorkers int
	// WritePolicy says how many serving replicas must acknowledge a write
	// (zero value: all-minus-one).
	WritePolicy replication.WritePolicy
	// KeyPrefix is prepended to every key ("<prefix>:<key>" is NOT implied:
	// include your own separator). At most MaxPrefixLength bytes, no spaces
	// or control characters.
	KeyPrefix string
	// Sharding configures the per-zone rings (default xxhash, 160 points).
	Sharding sharding.Config
	// Node configures every node's pools, timeouts and breaker (see
	// package nodeclient). Zero fields take nodeclient's defaults, except
	// Breaker.ProbeMax: DefaultProbeMax, 1 s (see ReturnQuarantine).
	Node nodeclient.Config
	// DeleteHoldOff is how long a Delete (or a repair's delete) keeps a
	// deleted key deleted against fills of values read before it (default
	// 3 s): it stores a tombstone (see TombstoneFlags) living
	// DeleteHoldOff + 1 s, on which add, and so a read repair, fails, and
	// a read repair not sent within DeleteHoldOff of its read is dropped.
	// Each deleted key costs one small item per replica for that time.
	// Negative turns it off: a Delete then removes the key, and a read
	// repair that was under way can put the deleted value back in the
	// local zone until the value's own TTL ends.
	DeleteHoldOff time.Duration
	// LeaseTTL is the lifetime of the lease stub GetOrLoad creates on a
	// miss (default 5 s): if the winner dies, others may load after it.
	LeaseTTL time.Duration
	// LeaseWait bounds how long GetOrLoad waits for another caller's load
	// before loading itself (default 2 s).
	LeaseWait time.Duration
	// LoadConcurrency bounds the loader calls GetOrLoad runs at once in
	// this process (default DefaultLoadConcurrency; negative: no bound).
	// A load beyond it fails at once with ErrOriginBusy, or serves a stale
	// value if one is known (package documentation, "Tier-down").
	LoadConcurrency int
	// LoadRate bounds the loader calls GetOrLoad starts per second in
	// this process, with bursts of LoadBurst (default 0: no bound; set it
	// to the origin's share this process may use). Beyond it as above.
	LoadRate float64
	// LoadBurst is LoadRate's bucket size (default 1).
	LoadBurst int
	// LeaseZone is the zone whose replica of a key grants GetOrLoad's
	// leases for every client, so that one caller in the whole fleet loads
	// a missing key. By default it is the first zone by name that has a
	// node serving reads: every client that has the same topology picks
	// the same zone, whatever its own. If that zone's replica cannot be
	// reached, GetOrLoad degrades to per-process singleflight (counted in
	// zonecache_client_leases_total{result="error"}) until the topology
	// drops the zone's nodes and the next zone takes over.
	LeaseZone string
	// NearCache configures the opt-in in-process near cache (off by
	// default; see NearCacheConfig).
	NearCache NearCacheConfig
	// HotKeys configures hot-key detection (off by default).
	HotKeys HotKeyConfig
	// Repair configures the queue of failed replica deletes and writes.
	Repair replication.RepairConfig
	// RepairInterval is how often the repair worker looks for due repairs
	// when it has not been woken (default 50 ms).
	RepairInterval time.Duration
	// RepairAbsentGrace is how long a repair of a node that has left the
	// topology is kept in case the node comes back with its data, as a
	// node gossip wrongly declared dead does (default 10 min); it runs as
	// soon as SetTopology brings the node back. A repair is never kept
	// past its key's expiry.
	RepairAbsentGrace time.Duration
	// RepairSpoolDir, if set, makes the repairs this client accepts
	// survive its process: each is appended to this client's own segment
	// file in the directory (created if missing) before the failed write's
	// goroutine moves on, so it survives the process being killed, and
	// fsynced within RepairSpoolSync, so it survives the machine crashing
	// after that. A client started on the same directory later (same
	// process or another) adopts the segments of clients that are gone and
	// runs their repairs. Several live clients may share a directory.
	// Empty (the default) keeps repairs in memory only: a process that
	// exits before its repairs ran loses them, and a replica that missed a
	// delete serves the deleted value again once it answers (and read
	// repair may copy it to the other zones). New fails if the directory
	// cannot be created or written.
	RepairSpoolDir string
	// RepairSpoolBytes bounds this client's segment (default 64 MiB).
	// When live repairs fill it, a new repair is kept in memory only, as
	// without a spool, counted in
	// zonecache_client_repair_spool_full_total and logged at most once a
	// minute.
	RepairSpoolBytes int64
	// RepairSpoolSync is how often the segment is fsynced while it has
	// records not yet on disk (default 50 ms).
	RepairSpoolSync time.Duration
	// CloseTimeout bounds how long Close waits for pending repairs to run
	// (default 2 s; negative: Close does not wait). Close reports what is
	// left with an error wrapping ErrRepairsPending.
	CloseTimeout time.Duration
	// ReturnQuarantine is how long, after this client's circuit breaker of
	// a node closes again (the node answered a probe after failing), its
	// reads take no value from the node: a replica read there counts as a
	// miss and the read goes on to the next zone, whatever
	// DisableFallbackOnMiss says (zonecache_client_quarantined_reads_total).
	// Writes and repairs go to the node as usual. Writes acknowledged while
	// the node was away, by this client or any other, reach it only
	// through their writers' repairs, which run when the writers' own
	// breakers close; the quarantine must cover that delay: their probe
	// interval (Node.Breaker.ProbeMax plus 20 % jitter, plus
	// ProbeTimeout), their repairs, and RepairRecheck. Default
	// DefaultReturnQuarantine (4 s); negative: no quarantine.
	ReturnQuarantine time.Duration
	// RepairRecheck is how long after a repair of a replica first
	// succeeds it runs once more, when the replica's write was given up
	// while in flight (timed out, or its connection failed) rather than
	// refused or never sent: a frozen node (SIGSTOP, a VM pause) applies
	// what sat in its socket buffer when it resumes, possibly after the
	// repair that came on a new connection. The assumption is that a node
	// that answered processes its buffered requests within RepairRecheck.
	// Default DefaultRepairRecheck (1 s); negative: no recheck.
	RepairRecheck time.Duration
	// NodeGrace is how long a node that left the topology stays open for
	// requests that started on the older view (default 10 s).
	NodeGrace time.Duration
	// FormerOwnerWindow is how long after a topology change a write of a
	// key also deletes it at the nodes that served its reads in the views
	// it replaced, where they are not written and are still in the
	// topology: a client whose view lags reads those, and must not find a
	// value older than the write.
	// It should cover the fleet's view lag (server.DefaultPurgeWindow).
	// Default DefaultFormerOwnerWindow (30 s); negative: off.
	FormerOwnerWindow time.Duration
	// Registerer, if not nil, receives the client's Prometheus metrics.
	Registerer prometheus.Registerer
	// Hooks are optional callbacks for tracing.
	Hooks Hooks
	// Faults injects failures and delays for testing fallbacks (off when
	// it has no rules).
	Faults FaultConfig
	// Logger receives repair and topology messages (default slog.Default()).
	Logger *slog.Logger

	// hashKey replaces the key hash; tests force collisions with it.
	hashKey func(string) string
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Zone == "" {
		return cfg, fmt.Errorf("%w: Zone is required", ErrInvalidConfig)
	}
	if len(cfg.KeyPrefix) > MaxPrefixLength {
		return cfg, fmt.Errorf("%w: KeyPrefix longer than %d bytes", ErrInvalidConfig, MaxPrefixLength)
	}
	for _, ch := range []byte(cfg.KeyPrefix) {
		if ch <= ' ' || ch == 0x7f {
			return cfg, fmt.Errorf("%w: KeyPrefix has a space or control character", ErrInvalidConfig)
		}
	}
	positiveOr(&cfg.ReadRepairWorkers, DefaultReadRepairWorkers)
	nonZeroOr(&cfg.DeleteHoldOff, DefaultDeleteHoldOff)
	positiveOr(&cfg.LeaseTTL, DefaultLeaseTTL)
	positiveOr(&cfg.LeaseWait, DefaultLeaseWait)
	nonZeroOr(&cfg.LoadConcurrency, DefaultLoadConcurrency)
	positiveOr(&cfg.NodeGrace, DefaultNodeGrace)
	positiveOr(&cfg.RepairInterval, DefaultRepairInterval)
	positiveOr(&cfg.RepairAbsentGrace, DefaultRepairAbsentGrace)
	positiveOr(&cfg.RepairSpoolBytes, DefaultRepairSpoolBytes)
	positiveOr(&cfg.RepairSpoolSync, DefaultRepairSpoolSync)
	nonZeroOr(&cfg.ReturnQuarantine, DefaultReturnQuarantine)
	nonZeroOr(&cfg.FormerOwnerWindow, DefaultFormerOwnerWindow)
	nonZeroOr(&cfg.RepairRecheck, DefaultRepairRecheck)
	positiveOr(&cfg.Node.Breaker.ProbeMax, DefaultProbeMax)
	nonZeroOr(&cfg.CloseTimeout, DefaultCloseTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Node.Logger == nil {
		cfg.Node.Logger = cfg.Logger
	}
	if cfg.hashKey == nil {
		cfg.hashKey = hashKey
	}
	return cfg, nil
}

// positiveOr sets *v to def when it is zero or negative: settings where
// neither means anything.
func positiveOr[T ~int | ~int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// nonZeroOr sets *v to def when it is zero: settings where a negative
// value turns the feature off.
func nonZeroOr[T ~int | ~int64](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// ttlSeconds converts a TTL to memcached's exptime: 0 stays 0 (no expiry),
// a part second rounds up, beyond 30 days it becomes an absolute Unix time.
func ttlSeconds(d time.Duration) int32 { return protocol.Exptime(d, time.Now()) }

// ttlFromRead converts a read's remaining TTL (-1 = never) to a Duration
// (0 = never).
func ttlFromRead(s int32) time.Duration {
	switch {
	case s < 0:
		return 0
	case s == 0:
		return time.Second // expires within the second
	}
	return time.Duration(s) * time.Second
}
