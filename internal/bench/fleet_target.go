package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// FleetTarget is a zonecache fleet through the smart client (package
// client). It is a ZoneReporter: a hook on every node request counts
// requests, hits, misses, errors and fallbacks per zone.
type FleetTarget struct {
	c              *client.Client
	zones          ZoneCounters
	last           string // the last zone of the read order: nothing after it
	fallbackOnMiss bool
}

// NewFleetTarget returns a Target for the fleet cfg describes (at least
// cfg.Zone and cfg.Topology). It adds an OnAttempt hook that counts per
// zone, calling any hook cfg already has first. The read order is taken
// from the initial topology.
func NewFleetTarget(cfg client.Config) (*FleetTarget, error) {
	f := &FleetTarget{fallbackOnMiss: !cfg.DisableFallbackOnMiss}
	if order := replication.ReadOrder(cfg.Topology.Zones(), cfg.Zone, cfg.ZonePreference); len(order) > 0 {
		f.last = order[len(order)-1]
	}
	prev := cfg.Hooks.OnAttempt
	cfg.Hooks.OnAttempt = func(ctx context.Context, e client.AttemptEvent) {
		if prev != nil {
			prev(ctx, e)
		}
		f.record(e)
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("fleet target: %w", err)
	}
	f.c = c
	return f, nil
}

// record classifies one node request of the client.
func (f *FleetTarget) record(e client.AttemptEvent) {
	if e.Op == "get_multi" {
		failed := e.Err != nil && !errors.Is(e.Err, nodeclient.ErrCacheMiss)
		missed := e.Hits < e.Keys && f.fallbackOnMiss
		f.zones.RecordKeys(e.Zone, e.Keys, e.Hits, failed && e.Hits == 0, e.Zone != f.last && (failed || missed))
		return
	}
	read := e.Op == "get" || e.Op == "gat" || e.Op == "lease"
	var out ZoneOutcome
	switch {
	case e.Err == nil && read:
		out = ZoneHit
	case e.Err == nil:
		out = ZoneOK // a write
	case errors.Is(e.Err, nodeclient.ErrCacheMiss):
		out = ZoneMiss
	case errors.Is(e.Err, nodeclient.ErrNotFound), errors.Is(e.Err, nodeclient.ErrNotStored):
		out = ZoneOK // an answer, not a failure
	default:
		out = ZoneError
	}
	fellBack := read && e.Zone != f.last && (out == ZoneError || (out == ZoneMiss && f.fallbackOnMiss))
	f.zones.Record(e.Zone, out, fellBack)
}

// ZoneStats implements ZoneReporter.
func (f *FleetTarget) ZoneStats() []ZoneStats { return f.zones.ZoneStats() }

// Client returns the smart client, for scenario events (SetTopology).
func (f *FleetTarget) Client() *client.Client { return f.c }

// Get implements Target.
func (f *FleetTarget) Get(ctx context.Context, key string) (bool, error) {
	_, err := f.c.Get(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, client.ErrCacheMiss):
		return false, nil
	default:
		return false, fmt.Errorf("fleet get: %w", err)
	}
}

// GetMulti implements Target. The keys are copied: the client may still use
// them after returning (read repair).
func (f *FleetTarget) GetMulti(ctx context.Context, keys []string) (int, error) {
	items, err := f.c.GetMulti(ctx, slices.Clone(keys))
	if err != nil {
		return len(items), fmt.Errorf("fleet get multi: %w", err)
	}
	return len(items), nil
}

// Set implements Target.
func (f *FleetTarget) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if _, err := f.c.Set(ctx, client.Item{Key: key, Value: value, TTL: ttl}); err != nil {
		return fmt.Errorf("fleet set: %w", err)
	}
	return nil
}

// Delete implements Target.
func (f *FleetTarget) Delete(ctx context.Context, key string) error {
	if _, err := f.c.Delete(ctx, key); err != nil && !errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("fleet delete: %w", err)
	}
	return nil
}

// Close implements Target.
func (f *FleetTarget) Close() error { return f.c.Close() }
