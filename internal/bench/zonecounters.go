package bench

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ZoneOutcome is how one request to one zone ended, for ZoneCounters.
type ZoneOutcome uint8

// Outcomes of a request to a zone.
const (
	// ZoneOK is a write or delete that succeeded.
	ZoneOK ZoneOutcome = iota
	// ZoneHit is a read that found its key.
	ZoneHit
	// ZoneMiss is a read that did not.
	ZoneMiss
	// ZoneError is a request that failed.
	ZoneError
)

// ZoneCounters counts requests per zone for a zone-aware Target, which calls
// Record from its per-node hooks and returns them from ZoneStats. It is safe
// for concurrent use, and its zero value is ready.
type ZoneCounters struct {
	mu    sync.RWMutex
	zones map[string]*zoneCounter
}

type zoneCounter struct {
	requests, hits, misses, errors, fallbacks atomic.Uint64
}

func (z *ZoneCounters) zone(name string) *zoneCounter {
	z.mu.RLock()
	c := z.zones[name]
	z.mu.RUnlock()
	if c != nil {
		return c
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.zones == nil {
		z.zones = map[string]*zoneCounter{}
	}
	if c = z.zones[name]; c == nil {
		c = &zoneCounter{}
		z.zones[strings.Clone(name)] = c
	}
	return c
}

// Record counts one request to zone that ended with outcome; fellBack
// reports that the caller went on to another zone after it (a read that
// missed or failed here).
func (z *ZoneCounters) Record(zone string, outcome ZoneOutcome, fellBack bool) {
	c := z.zone(zone)
	c.requests.Add(1)
	switch outcome {
	case ZoneHit:
		c.hits.Add(1)
	case ZoneMiss:
		c.misses.Add(1)
	case ZoneError:
		c.errors.Add(1)
	}
	if fellBack {
		c.fallbacks.Add(1)
	}
}

// RecordKeys counts one multi-get request to zone that asked for keys
// keys and found hits of them; fellBack reports that some keys went on
// to another zone after it.
func (z *ZoneCounters) RecordKeys(zone string, keys, hits int, failed, fellBack bool) {
	c := z.zone(zone)
	c.requests.Add(1)
	if failed {
		c.errors.Add(1)
	}
	if hits > 0 {
		c.hits.Add(uint64(hits))
	}
	if keys > hits && !failed {
		c.misses.Add(uint64(keys - hits))
	}
	if fellBack {
		c.fallbacks.Add(1)
	}
}

// ZoneStats implements ZoneReporter, in zone name order.
func (z *ZoneCounters) ZoneStats() []ZoneStats {
	z.mu.RLock()
	defer z.mu.RUnlock()
	out := make([]ZoneStats, 0, len(z.zones))
	for name, c := range z.zones {
		out = append(out, ZoneStats{
			Zone: name, Requests: c.requests.Load(), Hits: c.hits.Load(), Misses: c.misses.Load(),
			Errors: c.errors.Load(), Fallbacks: c.fallbacks.Load(),
		})
	}
	slices.SortFunc(out, func(a, b ZoneStats) int { return strings.Compare(a.Zone, b.Zone) })
	return out
}
