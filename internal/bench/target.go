package bench

import (
	"context"
	"time"
)

// Target is a cache the harness sends requests to: one memcached through
// gomemcache, one node through nodeclient, or a fleet through the smart
// client. It is called from many goroutines at once, with valid memcached
// keys and contexts that carry Config.OpTimeout and end with the run. It
// must not modify value (a shared buffer) nor keep the keys slice after
// GetMulti returns (reused; the strings may be kept).
type Target interface {
	// Get reads one key: hit reports whether it was found. A miss is not an
	// error.
	Get(ctx context.Context, key string) (hit bool, err error)
	// GetMulti reads keys (distinct) in one batch and returns how many were
	// found. On a partial failure it returns the hits it has and the error.
	GetMulti(ctx context.Context, keys []string) (hits int, err error)
	// Set writes key unconditionally; ttl 0 means never expire.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases the Target's connections.
	Close() error
}

// ZoneStats are cumulative counters of one zone, as a zone-aware Target
// (the smart client) counts them from its creation on. The harness reports
// the difference between two snapshots.
type ZoneStats struct {
	// Zone names the zone.
	Zone string `json:"zone"`
	// Requests counts operations sent to nodes of this zone, fallbacks and
	// replicated writes included.
	Requests uint64 `json:"requests"`
	// Hits and Misses count keys read from this zone found and not found.
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
	// Errors counts operations to this zone that failed: timeouts, refused
	// connections, open circuit breakers, server errors.
	Errors uint64 `json:"errors"`
	// Fallbacks counts reads that went on from this zone to another zone
	// because this zone missed or failed.
	Fallbacks uint64 `json:"fallbacks"`
}

// ZoneReporter is implemented by Targets that know about zones. The harness
// calls ZoneStats once a second and at the start and end of every measured
// phase, from one goroutine; it must be safe to call while operations run.
type ZoneReporter interface {
	// ZoneStats returns the cumulative counters of every zone, in a stable
	// order.
	ZoneStats() []ZoneStats
}

// zoneDelta returns now - before, matched by zone name.
func zoneDelta(now, before []ZoneStats) []ZoneStats {
	if len(now) == 0 {
		return nil
	}
	out := make([]ZoneStats, len(now))
	for i, z := range now {
		d := z
		for _, b := range before {
			if b.Zone == z.Zone {
				d.Requests -= b.Requests
				d.Hits -= b.Hits
				d.Misses -= b.Misses
				d.Errors -= b.Errors
				d.Fallbacks -= b.Fallbacks
				break
			}
		}
		out[i] = d
	}
	return out
}

// addZones adds b's counters into a, matched by zone name.
func addZones(a, b []ZoneStats) []ZoneStats {
outer:
	for _, z := range b {
		for i := range a {
			if a[i].Zone == z.Zone {
				a[i].Requests += z.Requests
				a[i].Hits += z.Hits
				a[i].Misses += z.Misses
				a[i].Errors += z.Errors
				a[i].Fallbacks += z.Fallbacks
				continue outer
			}
		}
		a = append(a, z)
	}
	return a
}
