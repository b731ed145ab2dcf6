package warm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// Transport configures the connections to the source and target
	// nodes; only their Batch pools are used. Zero: transport defaults.
	Transport nodeclient.Config
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

// Warm copies to cfg.Target the items it owns in its zone from every node of
// cfg.FromZone that serves reads, and returns what it did. It returns an
// error (wrapping ErrConfig) before doing anything when the config is
// unusable; otherwise it goes through every source node and returns the
// stats with the errors of the dumps that failed and ctx's error, if any.
// Per-item failures are counted in Stats.Errors, not returned.
func Warm(ctx context.Context, cfg Config) (Stats, error) {
	var c counters
	target, zone, sources, err := plan(cfg)
	if err != nil {
		return Stats{}, err
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	dst := nodeclient.NewNode(target.Addr, cfg.Transport)
	defer dst.Close()
	lim := newLimiter(cfg.Rate)
	var errs []error
	for _, src := range sources {
		if ctx.Err() != nil {
			break
		}
		owned := func(key string) bool { return isWriteOwner(zone, key, target.ID) }
		keys, err := dumpKeys(ctx, src.Addr, cfg.DialTimeout, time.Now(), owned, &c)
		if err != nil {
			errs = append(errs, fmt.Errorf("warm: dump %s (%s): %w", src.ID, src.Addr, err))
			// The keys read before the failure are still copied.
		}
		copyKeys(ctx, cfg, src.Addr, dst, keys, lim, &c)
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return c.stats(), errors.Join(errs...)
}

// plan checks cfg against its topology and returns the target node, its
// zone's placement and the source nodes.
func plan(cfg Config) (replication.Node, *replication.ZonePlacement, []replication.Node, error) {
	if cfg.Target == "" || cfg.FromZone == "" {
		return replication.Node{}, nil, nil, fmt.Errorf("%w: Target and FromZone are required", ErrConfig)
	}
	target, ok := cfg.Topology.Node(cfg.Target)
	if !ok {
		return replication.Node{}, nil, nil, fmt.Errorf("%w: node %q is not in the topology", ErrConfig, cfg.Target)
	}
	if target.Zone == cfg.FromZone {
		return replication.Node{}, nil, nil, fmt.Errorf("%w: node %q is in zone %q itself", ErrConfig, target.ID, cfg.FromZone)
	}
	if !target.EffectiveState().TakesWrites() {
		return replication.Node{}, nil, nil, fmt.Errorf("%w: node %q is %s and takes no writes", ErrConfig, target.ID, target.EffectiveState())
	}
	p, err := replication.NewPlacement(cfg.Topology, cfg.Sharding)
	if err != nil {
		return replication.Node{}, nil, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	sources := cfg.Topology.ZoneNodes(cfg.FromZone, replication.NodeState.ServesReads)
	if len(sources) == 0 {
		return replication.Node{}, nil, nil, fmt.Errorf("%w: zone %q has no node serving reads", ErrConfig, cfg.FromZone)
	}
	return target, p.Zone(target.Zone), sources, nil
}

// dumpEntry is one line of a metadump.
type dumpEntry struct {
	key string
	exp int64 // Unix time; -1 never expires
}

// parseDumpLine parses `key=<uri-escaped> exp=<unix|-1> la=... ...`.
func parseDumpLine(line string) (dumpEntry, error) {
	var e dumpEntry
	var haveKey, haveExp bool
	for _, f := range strings.Fields(line) {
		name, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch name {
		case "key":
			k, err := url.PathUnescape(val)
			if err != nil || k == "" {
				return e, fmt.Errorf("bad key %q", val)
			}
			e.key, haveKey = k, true
		case "exp":
			v, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return e, fmt.Errorf("bad exp %q", val)
			}
			e.exp, haveExp = v, true
		}
	}
	if !haveKey || !haveExp {
		return e, fmt.Errorf("bad metadump line %q", line)
	}
	return e, nil
}

// dumpKeys streams the metadump of addr and returns the entries that want
// selects and that were not expired at now, counting every item (those
// want rejects in c.notOwned). On an error it returns the keys kept so far.
func dumpKeys(ctx context.Context, addr string, dialTimeout time.Duration, now time.Time,
	want func(key string) bool, c *counters) ([]dumpEntry, error) {
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// Ending ctx (its deadline included) unblocks a read or write in
	// progress; ctx.Err() is set by then, so the error reported is ctx's.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write([]byte("lru_crawler metadump all\r\n")); err != nil {
		return nil, ctxErr(ctx, err)
	}
	var keys []dumpEntry
	r := bufio.NewReaderSize(conn, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return keys, ctxErr(ctx, fmt.Errorf("metadump ended without END: %w", err))
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "END":
			return keys, nil
		case strings.HasPrefix(line, "key="):
		case line == "":
			continue
		default: // ERROR, CLIENT_ERROR, BUSY, BADCLASS ...
			return keys, fmt.Errorf("metadump refused: %q", line)
		}
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
	}
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

// copyKeys copies keys from src to dst with cfg.Concurrency workers.
func copyKeys(ctx context.Context, cfg Config, srcAddr string, dst *nodeclient.Node, keys []dumpEntry, lim *limiter, c *counters) {
	if len(keys) == 0 {
		return
	}
	src := nodeclient.NewNode(srcAddr, cfg.Transport)
	defer src.Close()
	fanOut(ctx, cfg.Concurrency, keys, lim.wait, func(e dumpEntry) {
		copyOne(ctx, src.Batch(), dst.Batch(), e, c)
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

// copyOne reads e's key from src and adds it to dst with its remaining TTL.
func copyOne(ctx context.Context, src, dst *nodeclient.Pool, e dumpEntry, c *counters) {
	it, err := src.Get(ctx, e.key)
	switch {
	case errors.Is(err, nodeclient.ErrCacheMiss):
		c.expired.Add(1) // expired or deleted since the dump
		return
	case err != nil:
		c.errs.Add(1)
		return
	}
	ttl, ok := writeTTL(it.TTL, e.exp, time.Now())
	if !ok {
		c.expired.Add(1)
		return
	}
	err = dst.Add(ctx, nodeclient.Item{Key: e.key, Value: it.Value, Flags: it.Flags, TTL: ttl})
	switch {
	case err == nil:
		c.copied.Add(1)
	case errors.Is(err, nodeclient.ErrNotStored):
		c.present.Add(1)
	default:
		c.errs.Add(1)
	}
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
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{interval: time.Duration(float64(time.Second) / rate)}
}

// wait blocks until the next item may start or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
