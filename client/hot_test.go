package client

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

// HotKeysHandler, mounted on a service's admin mux, serves the hot keys
// as JSON with their share and an estimated read rate; n bounds the list,
// a bad n is refused, and with detection off it says so.
func TestHotKeysHandlerServesJSON(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a"}, 1)
	c := newTestClient(t, f.topo, "a", func(cfg *Config) {
		cfg.HotKeys = HotKeyConfig{Enabled: true, Share: 0.2, Window: 10_000}
	})
	off := newTestClient(t, f.topo, "a", nil)
	mux := http.NewServeMux()
	mux.Handle("/debug/hotkeys", c.HotKeysHandler())
	mux.Handle("/debug/hotkeys-off", off.HotKeysHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := testCtx(t)
	keys := loadKeys(t, c, "hh", 40)
	start := time.Now()
	for i := range 200 {
		for _, key := range []string{"hh-0", "hh-1", keys[i%len(keys)]} {
			if _, err := c.Get(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
	}
	reads := 600 / time.Since(start).Seconds() // this process's reads per second, at least
	rep := getHotKeys(t, srv.URL+"/debug/hotkeys?n=1", http.StatusOK)
	if !rep.Enabled || len(rep.Keys) != 1 {
		t.Fatalf("hot keys with n=1: %+v, want one", rep)
	}
	rep = getHotKeys(t, srv.URL+"/debug/hotkeys", http.StatusOK)
	if len(rep.Keys) != 2 {
		t.Fatalf("hot keys: %+v, want hh-0 and hh-1", rep)
	}
	for _, k := range rep.Keys {
		if k.Key != "hh-0" && k.Key != "hh-1" || k.Share < 0.2 || k.Rate <= 0 || k.Rate > reads {
			t.Fatalf("hot key %+v: want hh-0 or hh-1, share >= 0.2, rate in (0, %.0f]", k, reads)
		}
	}
	getHotKeys(t, srv.URL+"/debug/hotkeys?n=x", http.StatusBadRequest)
	if rep := getHotKeys(t, srv.URL+"/debug/hotkeys-off", http.StatusOK); rep.Enabled || rep.Keys == nil || len(rep.Keys) != 0 {
		t.Fatalf("hot keys with detection off: %+v, want disabled and an empty list", rep)
	}
}

// getHotKeys GETs url, checks the status and decodes a 200's report.
func getHotKeys(t *testing.T, url string, status int) HotKeysReport {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep HotKeysReport
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %s, want %d", url, resp.Status, status)
	}
	if status == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %s: Content-Type %q", url, ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatal(err)
		}
	}
	return rep
}
