package client

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

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

// HotKeyConfig configures hot-key detection: every Get, GetMulti and
// GetOrLoad counts its key in a count-min sketch (64 KiB) that halves
// every Window reads, and a key with at least Share of the reads is hot: listed by
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
// process's recent reads, and its reads per second in this process
// averaged over the sketch's last two windows (since the client started,
// until the first halving).
type HotKey struct {
	Key   string  `json:"key"`
	Share float64 `json:"share"`
	Rate  float64 `json:"rate"`
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
	// The read rate, guarded by mu: reads are those counted in total
	// since the last halving (total was base then), plus prevReads in
	// the window before; the two windows began at since.
	base      int64
	prevReads int64
	since     time.Time
	lastAge   time.Time
}

func newHotKeys(cfg HotKeyConfig, m *metrics) *hotKeys {
	if cfg.Share <= 0 {
		cfg.Share = DefaultHotKeyShare
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultHotKeyWindow
	}
	now := time.Now()
	return &hotKeys{cfg: cfg, top: make(map[string]uint32), apps: make(map[string]string), m: m, since: now, lastAge: now}
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
	h.mu.Lock()
	defer h.mu.Unlock()
	now, total := time.Now(), h.total.Load()
	h.prevReads, h.since, h.lastAge = total-h.base, h.lastAge, now
	h.total.Store(total / 2)
	h.base = total / 2
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
	counted := h.total.Load()
	total := max(float64(counted), 1)
	rate := float64(counted-h.base+h.prevReads) / max(time.Since(h.since).Seconds(), 1e-3)
	out := make([]HotKey, 0, len(h.top))
	for k, est := range h.top {
		share := min(float64(est)/total, 1)
		out = append(out, HotKey{Key: h.apps[k], Share: share, Rate: share * rate})
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

// HotKeysReport is what HotKeysHandler serves.
type HotKeysReport struct {
	// Enabled reports whether hot-key detection is on.
	Enabled bool `json:"enabled"`
	// Keys are the hot keys, hottest first.
	Keys []HotKey `json:"keys"`
}

// HotKeysHandler serves Client.HotKeys as JSON (HotKeysReport), at most
// the query parameter n keys (default and most 32), for a service to
// mount on its own admin mux: keys are application data, keep it private.
func (c *Client) HotKeysHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hotTop
		if q := r.URL.Query().Get("n"); q != "" {
			v, err := strconv.Atoi(q)
			if err != nil || v < 0 {
				http.Error(w, "n: want a count", http.StatusBadRequest)
				return
			}
			n = min(v, hotTop)
		}
		rep := HotKeysReport{Enabled: c.c.hot != nil, Keys: c.HotKeys(n)}
		if rep.Keys == nil {
			rep.Keys = []HotKey{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	})
}
