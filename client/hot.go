package client

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Defaults of HotKeyConfig's zero fields.
const (
	DefaultHotKeyShare  = 0.01
	DefaultHotKeyWindow = 100_000
)

// hotRows, hotWidth: the count-min sketch is hotRows rows of hotWidth
// counters (64 KiB); hotTop is the most keys reported.
const (
	hotRows  = 4
	hotWidth = 4096
	hotTop   = 32
	hotMin   = 16 // reads in a window before a key can be hot
)

// HotKeyConfig configures hot-key detection: every Get and GetOrLoad
// counts its key in a count-min sketch (64 KiB) that halves every Window
// reads, and a key with at least Share of the reads is hot: listed by
// Client.HotKeys, counted in zonecache_client_hot_key_reads_total, and
// admitted to a NearCacheConfig.HotOnly near cache.
type HotKeyConfig struct {
	// Enabled turns detection on (also implied by NearCache.HotOnly).
	Enabled bool
	// Share of this process's reads that makes a key hot (default
	// DefaultHotKeyShare, 1 %).
	Share float64
	// Window is how many reads the counts cover before they are halved
	// (default DefaultHotKeyWindow).
	Window int64
}

// HotKey is a key Client.HotKeys reports: its estimated share of this
// process's recent reads.
type HotKey struct {
	Key   string
	Share float64
}

// hotKeys is the sketch and the keys found hot. A nil *hotKeys detects
// nothing.
type hotKeys struct {
	cfg    HotKeyConfig
	counts [hotRows][hotWidth]atomic.Uint32
	total  atomic.Int64 // reads counted in the window (halved with it)
	mu     sync.Mutex
	top    map[string]uint32 // node key -> estimate when last seen hot
	apps   map[string]string // node key -> application key
	m      *metrics
}

func newHotKeys(cfg HotKeyConfig, m *metrics) *hotKeys {
	if cfg.Share <= 0 {
		cfg.Share = DefaultHotKeyShare
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultHotKeyWindow
	}
	return &hotKeys{cfg: cfg, top: make(map[string]uint32), apps: make(map[string]string), m: m}
}

// count records a read of k and reports whether k is hot.
func (h *hotKeys) count(k nodeKey) bool {
	if h == nil {
		return false
	}
	sum := xxhash.Sum64String(k.node)
	est := uint32(1<<32 - 1)
	for r := range hotRows {
		i := uint32(sum>>(16*r)) % hotWidth
		est = min(est, h.counts[r][i].Add(1))
	}
	if h.total.Add(1)%h.cfg.Window == 0 {
		h.age()
	}
	if est < hotMin || float64(est) < h.cfg.Share*float64(h.total.Load()) {
		return false
	}
	h.m.hotReads.Inc()
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.top[k.node]; !ok && len(h.top) >= hotTop {
		h.evictColdest()
	}
	h.top[k.node], h.apps[k.node] = est, k.app
	return true
}

// age halves every count, so the sketch follows the recent reads, and
// drops the keys no longer hot.
func (h *hotKeys) age() {
	for r := range hotRows {
		for i := range h.counts[r] {
			c := &h.counts[r][i]
			c.Store(c.Load() / 2)
		}
	}
	h.total.Store(h.total.Load() / 2)
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, est := range h.top {
		if est /= 2; float64(est) < h.cfg.Share*float64(h.total.Load()) {
			delete(h.top, k)
			delete(h.apps, k)
			continue
		}
		h.top[k] = est
	}
}

// evictColdest drops the listed key with the lowest count; mu held.
func (h *hotKeys) evictColdest() {
	var coldest string
	low := uint32(1<<32 - 1)
	for k, est := range h.top {
		if est < low {
			coldest, low = k, est
		}
	}
	delete(h.top, coldest)
	delete(h.apps, coldest)
}

// isHot reports whether the node key k is listed hot.
func (h *hotKeys) isHot(key string) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.top[key]
	return ok
}

// list returns the hot keys, hottest first, at most n.
func (h *hotKeys) list(n int) []HotKey {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	total := max(float64(h.total.Load()), 1)
	out := make([]HotKey, 0, len(h.top))
	for k, est := range h.top {
		out = append(out, HotKey{Key: h.apps[k], Share: min(float64(est)/total, 1)})
	}
	h.mu.Unlock()
	slices.SortFunc(out, func(a, b HotKey) int {
		switch {
		case a.Share > b.Share:
			return -1
		case a.Share < b.Share:
			return 1
		}
		return 0
	})
	return out[:min(n, len(out))]
}

// HotKeys returns up to n keys that are hot in this process's recent
// reads, hottest first (none unless Config.HotKeys.Enabled or
// NearCache.HotOnly).
func (c *Client) HotKeys(n int) []HotKey { return c.c.hot.list(n) }
