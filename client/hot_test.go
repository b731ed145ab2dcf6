package client

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A key with most of the reads is listed by HotKeys and, with a HotOnly
// near cache, served from it; keys read once are neither.
func TestHotKeysDetectedAndServedFromNearCache(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a"}, 1)
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.NearCache = NearCacheConfig{MaxBytes: 1 << 20, TTL: time.Hour, HotOnly: true}
		cfg.HotKeys = HotKeyConfig{Share: 0.2, Window: 10_000}
	})
	ctx := testCtx(t)
	keys := loadKeys(t, c, "hk", 50)
	for i := range 200 {
		if _, err := c.Get(ctx, "hk-0"); err != nil {
			t.Fatal(err)
		}
		if i < len(keys) {
			if _, err := c.Get(ctx, keys[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	hot := c.HotKeys(10)
	if len(hot) != 1 || hot[0].Key != "hk-0" || hot[0].Share < 0.2 {
		t.Fatalf("HotKeys = %+v, want hk-0 alone with a share of at least 0.2", hot)
	}
	if n := testutil.ToFloat64(c.c.metrics.hotReads); n == 0 {
		t.Fatal("no hot-key reads counted")
	}
	if n := nearCount(c, nearHit); n == 0 {
		t.Fatal("the hot key was never served from the near cache")
	}
	for _, key := range keys[1:] {
		k, _ := c.c.mapKey(key)
		if _, ok := c.c.near.get(k.node); ok {
			t.Fatalf("cold key %s admitted to a HotOnly near cache", key)
		}
	}
}
