package warm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// Defaults applied to zero fields of Config.
const (
	DefaultConcurrency = 16
	DefaultDialTimeout = 2 * time.Second
)

// ErrConfig is wrapped by Warm's error when the Config or the topology do
// not allow a warm-up (unknown target, same zone, no source node, ...).
var ErrConfig = errors.New("warm: invalid config")

// Config describes one warm-up. Zero fields take the documented defaults.
type Config struct {
	// Topology is the fleet; it must hold Target and at least one node of
	// FromZone that serves reads. Required.
	Topology replication.Topology
	// Target is the id of the node to fill (usually a warming node).
	// Required.
	Target string
	// FromZone is the zone whose replicas are copied; it must differ from
	// Target's zone. Required.
	FromZone string
	// Sharding is the ring configuration of the clients (zero value: the
	// client's default), so the keys chosen are the ones clients will read
	// from Target.
	Sharding sharding.Config
	// Concurrency bounds the items being copied at once (default 16).
	Concurrency int
	// Rate, when > 0, limits the items copied per second (each a read from
	// the source and a write to the target); 0 means no limit.
	Rate float64
	// DialTimeout bounds connecting to a source node for its dump
	// (default 2 s). The dump itself is bounded by ctx.
	DialTimeout time.Duration
	// Node configures the connections to the source and target nodes;
	// only their Batch pools are used. Zero: nodeclient's defaults. Its
	// TLS also serves the dumps and version checks.
	Node nodeclient.Config
	// Progress, when set, is called with the progress so far every
	// ProgressEvery (default 1 s) and once more when Warm returns (for a
	// progress display or metrics); calls do not overlap.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Stats counts what a warm-up did. In a warm-up that ran to the end, every
// scanned item ends in exactly one of Copied, the Skipped* counters or Errors.
type Stats struct {
	// Scanned is the number of items listed by the source nodes' dumps.
	Scanned int64
	// Copied is the number of items written to the target.
	Copied int64
	// SkippedNotOwned counts items the target does not own.
	SkippedNotOwned int64
	// SkippedExpired counts items expired in the dump, gone from the
	// source when read, or whose remaining TTL ran out.
	SkippedExpired int64
	// SkippedPresent counts items the target already held (add refused):
	// live traffic wrote them first.
	SkippedPresent int64
	// Errors counts items that could not be read, parsed or written.
	Errors int64
}

// Skipped is the number of items skipped for any reason.
func (s Stats) Skipped() int64 { return s.SkippedNotOwned + s.SkippedExpired + s.SkippedPresent }

// String formats the stats on one line.
func (s Stats) String() string {
	return fmt.Sprintf("scanned=%d copied=%d skipped=%d (not_owned=%d expired=%d present=%d) errors=%d",
		s.Scanned, s.Copied, s.Skipped(), s.SkippedNotOwned, s.SkippedExpired, s.SkippedPresent, s.Errors)
}

type counters struct {
	scanned, copied, notOwned, expired, present, errs atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{Scanned: c.scanned.Load(), Copied: c.copied.Load(), SkippedNotOwned: c.notOwned.Load(),
		SkippedExpired: c.expired.Load(), SkippedPresent: c.present.Load(), Errors: c.errs.Load()}
}

// dial is how the dumps and version checks connect: within DialTimeout,
// with the nodes' TLS config and credentials.
func (cfg Config) dial() nodeclient.Config {
	return nodeclient.Config{DialTimeout: cfg.DialTimeout, TLS: cfg.Node.TLS, Auth: cfg.Node.Auth}
}

// Warm copies to cfg.Target the items it owns in its zone from every node of
// cfg.FromZone that serves reads. An unusable config fails with ErrConfig,
// and a node of either zone that does not answer with ErrUnsettled, before
// anything is done; otherwise the error joins the failed dumps and
// ctx's error, and per-item failures are counted in Stats.Errors.
func Warm(ctx context.Context, cfg Config) (Stats, error) {
	var c counters
	sel, err := Select(cfg)
	if err != nil {
		return Stats{}, err
	}
	target, sources := sel.Target, sel.Sources
	if err := CheckAnswering(ctx, sel.Depends(), cfg.dial()); err != nil {
		return Stats{}, fmt.Errorf("warm: %w", err)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	dst := nodeclient.NewNode(target.Addr, cfg.Node)
	defer dst.Close()
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	lim := newLimiter(cfg.Rate)
	tr := newTracker(target.ID, sources, &c)
	stop := tr.reportEvery(cfg.Progress, cfg.ProgressEvery)
	var errs []error
	for i, src := range sources {
		if ctx.Err() != nil {
			break
		}
		keys, err := dumpKeys(ctx, src.Addr, cfg.dial(), time.Now(), sel.Owns, &c)
		if err != nil {
			errs = append(errs, fmt.Errorf("warm: dump %s (%s): %w", src.ID, src.Addr, err))
			// The keys read before the failure are still copied.
		}
		tr.dumped(i, len(keys))
		copyKeys(ctx, cfg, src.Addr, dst, keys, lim, &c, func(r CopyResult, n int) { tr.count(i, r, n) })
	}
	stop()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return c.stats(), errors.Join(errs...)
}

// Selection is what a warm-up copies: the items of Sources that Target
// owns.
type Selection struct {
	// Target is the node to fill.
	Target replication.Node
	// Sources are the serving nodes of the zone copied from.
	Sources []replication.Node

	top  replication.Topology
	from string
	zone *replication.ZonePlacement
}

// Select checks cfg against its topology, failing with ErrConfig, and
// returns what Warm copies: for a caller that copies it another way
// (package reshard's WarmPlan, resumable).
func Select(cfg Config) (Selection, error) {
	if cfg.Target == "" || cfg.FromZone == "" {
		return Selection{}, fmt.Errorf("%w: Target and FromZone are required", ErrConfig)
	}
	target, ok := cfg.Topology.Node(cfg.Target)
	if !ok {
		return Selection{}, fmt.Errorf("%w: node %q is not in the topology", ErrConfig, cfg.Target)
	}
	if target.Zone == cfg.FromZone {
		return Selection{}, fmt.Errorf("%w: node %q is in zone %q itself", ErrConfig, target.ID, cfg.FromZone)
	}
	if !target.EffectiveState().TakesWrites() {
		return Selection{}, fmt.Errorf("%w: node %q is %s and takes no writes", ErrConfig, target.ID, target.EffectiveState())
	}
	p, err := replication.NewPlacement(cfg.Topology, cfg.Sharding)
	if err != nil {
		return Selection{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	sources := cfg.Topology.ZoneNodes(cfg.FromZone, replication.NodeState.ServesReads)
	if len(sources) == 0 {
		return Selection{}, fmt.Errorf("%w: zone %q has no node serving reads", ErrConfig, cfg.FromZone)
	}
	return Selection{Target: target, Sources: sources, top: cfg.Topology, from: cfg.FromZone, zone: p.Zone(target.Zone)}, nil
}

// Owns reports whether Target owns key in its zone's write ring: the node
// clients will read key from once Target serves.
func (s Selection) Owns(key string) bool { return isWriteOwner(s.zone, key, s.Target.ID) }

// Depends returns the nodes the warm-up depends on, which must answer
// (CheckAnswering): those of Target's zone that take writes (they decide
// what Target owns) and the Sources.
func (s Selection) Depends() []replication.Node { return warmNodes(s.top, s.Target.Zone, s.from) }

// dumpEntry is one line of a metadump.
type dumpEntry struct {
	key string
	exp int64 // Unix time; -1 never expires
}

// parseDumpLine parses `key=<uri-escaped> exp=<unix|-1> la=... ...`.
func parseDumpLine(line string) (dumpEntry, error) {
	it, err := parseItem(line)
	return dumpEntry{key: it.Key, exp: it.Exp}, err
}

// dumpKeys streams the metadump of addr and returns the entries that want
// selects and that were not expired at now, counting every item (those
// want rejects in c.notOwned). On an error it returns the keys kept so far.
func dumpKeys(ctx context.Context, addr string, dial nodeclient.Config, now time.Time,
	want func(key string) bool, c *counters) ([]dumpEntry, error) {
	var keys []dumpEntry
	err := readDump(ctx, addr, dial, func(line string) {
		c.scanned.Add(1)
		e, err := parseDumpLine(line)
		switch {
		case err != nil:
			c.errs.Add(1)
		case e.exp >= 0 && e.exp <= now.Unix():
			c.expired.Add(1)
		case !want(e.key):
			c.notOwned.Add(1)
		default:
			keys = append(keys, e)
		}
	})
	return keys, err
}

// isWriteOwner reports whether owner owns key in zone's write ring: the
// node that clients will read key from once owner serves.
func isWriteOwner(zone *replication.ZonePlacement, key, owner string) bool {
	n, ok := zone.WriteOwner(key)
	return ok && n.ID == owner
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// copyKeys copies keys from src to dst with cfg.Concurrency workers and
// passes count each item's result and bytes, unless ctx ended first.
func copyKeys(ctx context.Context, cfg Config, srcAddr string, dst *nodeclient.Node, keys []dumpEntry, lim *limiter, c *counters,
	count func(CopyResult, int)) {
	if len(keys) == 0 {
		return
	}
	src := nodeclient.NewNode(srcAddr, cfg.Node)
	defer src.Close()
	fanOut(ctx, cfg.Concurrency, keys, lim.wait, func(e dumpEntry) {
		if r, n := copyOne(ctx, src.Batch(), dst.Batch(), e, c); r != Failed || ctx.Err() == nil {
			count(r, n)
		}
	})
}

// fanOut hands items to up to conc workers running fn, in order, until
// they run out, ctx ends or wait (nil: none) fails, and returns when every
// handed item is done.
func fanOut[T any](ctx context.Context, conc int, items []T, wait func(context.Context) error, fn func(T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range min(conc, len(items)) {
		wg.Go(func() {
			for it := range work {
				fn(it)
			}
		})
	}
	for _, it := range items {
		if wait != nil && wait(ctx) != nil {
			break
		}
		select {
		case work <- it:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
}

// copyOne copies e's key from src to dst (Copy), counts the result and
// returns it with the value's size.
func copyOne(ctx context.Context, src, dst *nodeclient.Pool, e dumpEntry, c *counters) (CopyResult, int) {
	r, got, _ := copyItem(ctx, src, dst, Item{Key: e.key, Exp: e.exp})
	n := len(got.Value)
	switch r {
	case Copied:
		c.copied.Add(1)
	case Gone:
		c.expired.Add(1)
	case Present:
		c.present.Add(1)
	default:
		c.errs.Add(1)
	}
	return r, n
}

// writeTTL turns the TTL read from a node (remaining seconds, -1 for never)
// into the TTL of a write, absolute when it exceeds memcached's 30-day
// relative limit. A read TTL of 0 (unknown, from a text-protocol node, or
// less than a second left) falls back to dumpExp, the expiry Unix time the
// dump listed (-1 never). ok is false when the item has no time left.
func writeTTL(remaining int32, dumpExp int64, now time.Time) (ttl int32, ok bool) {
	if remaining == 0 {
		switch left := dumpExp - now.Unix(); {
		case dumpExp < 0:
			return 0, true
		case left <= 0:
			return 0, false
		default:
			return protocol.Exptime(time.Duration(left)*time.Second, now), true
		}
	}
	if remaining < 0 {
		return 0, true
	}
	return protocol.Exptime(time.Duration(remaining)*time.Second, now), true
}

// limiter paces items at a fixed rate (no burst); a nil limiter never waits.
type limiter struct {
	lim *rate.Limiter
}

func newLimiter(r float64) *limiter {
	if r <= 0 {
		return nil
	}
	return &limiter{lim: rate.NewLimiter(rate.Limit(r), 1)}
}

// wait blocks until the next item may start or ctx ends. Unlike
// rate.Limiter.Wait it waits until ctx ends rather than failing at once when
// the item's turn comes after ctx's deadline, so that a warm cut short
// reports the context's error.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	d := l.lim.Reserve().Delay()
	if d <= 0 {
		return ctx.Err()
	}
	return backoff.Sleep(ctx, d)
}
