package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/transport"
	"github.com/zonecache/zonecache/replication"
)

func TestGetAndTouchZonecached(t *testing.T) { testGetAndTouch(t, "zonecached") }
func TestGetAndTouchMemcached(t *testing.T)  { testGetAndTouch(t, "memcached") }

// GetAndTouch reads a lease stub as a miss and leaves the stub's TTL
// alone, falls back to the next zone like Get, touches the replica it read
// from before it returns and the others in the background, and takes TTL 0
// as "never expire". OnRequest reports hit, fallback_hit and miss.
func testGetAndTouch(t *testing.T, server string) {
	f := startFleet(t, server, []string{"a", "b", "c"}, 1)
	var mu sync.Mutex
	results := map[string]string{}
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.Hooks.OnRequest = func(_ context.Context, e RequestEvent) {
			mu.Lock()
			defer mu.Unlock()
			results[e.Op+" "+e.Key] = e.Result
		}
	})
	result := func(op, key string) string {
		mu.Lock()
		defer mu.Unlock()
		return results[op+" "+key]
	}
	ctx := testCtx(t)
	a, b, cz := direct(t, f.proc("a0").Addr), direct(t, f.proc("b0").Addr), direct(t, f.proc("c0").Addr)
	stubTTL := func(what string, p *transport.Pool, key string) {
		t.Helper()
		l, err := p.LeaseGet(ctx, key, transport.LeaseOptions{})
		if err != nil || !isStub(l) || l.TTL <= 0 || l.TTL > 30 {
			t.Fatalf("%s: want the stub with its TTL of at most 30 s: %+v %v", what, l, err)
		}
	}

	// Only a stub in the local zone, nothing elsewhere: a miss.
	if l, err := a.LeaseGet(ctx, "stub", transport.LeaseOptions{VivifyTTL: 30}); err != nil || !l.Won {
		t.Fatalf("vivify: %+v %v", l, err)
	}
	if it, err := c.GetAndTouch(ctx, "stub", time.Hour); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("GetAndTouch of a stub: %q %v, want ErrCacheMiss", it.Value, err)
	}
	stubTTL("after GetAndTouch", a, "stub")
	if r := result("gat", "stub"); r != resultMiss {
		t.Fatalf("OnRequest result %q, want miss", r)
	}

	// A stub locally, the value in zones b and c: zone b's value, and the
	// stub is not touched.
	if l, err := a.LeaseGet(ctx, "fb", transport.LeaseOptions{VivifyTTL: 30}); err != nil || !l.Won {
		t.Fatalf("vivify: %+v %v", l, err)
	}
	for _, p := range []*transport.Pool{b, cz} {
		if err := p.Set(ctx, transport.Item{Key: "fb", Value: []byte("remote"), TTL: 60}); err != nil {
			t.Fatal(err)
		}
	}
	it, err := c.GetAndTouch(ctx, "fb", time.Hour)
	if err != nil || string(it.Value) != "remote" || it.TTL != time.Hour {
		t.Fatalf("GetAndTouch with a local stub: %q TTL %v %v, want zone b's value with TTL 1h", it.Value, it.TTL, err)
	}
	if r := result("gat", "fb"); r != resultFallbackHit {
		t.Fatalf("OnRequest result %q, want fallback_hit", r)
	}
	if got, err := b.Get(ctx, "fb"); err != nil || got.TTL <= 60 {
		t.Fatalf("zone b, read from, not touched when GetAndTouch returned: TTL %d %v", got.TTL, err)
	}
	// Zone c is touched in the background after zone a would have been.
	eventually(t, "zone c touched", func() bool {
		got, err := cz.Get(ctx, "fb")
		return err == nil && got.TTL > 60
	})
	stubTTL("after the background touches", a, "fb")

	// TTL 0 touches to "never expire", on every replica.
	if _, err := c.Set(ctx, Item{Key: "forever", Value: []byte("v"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	it, err = c.GetAndTouch(ctx, "forever", 0)
	if err != nil || string(it.Value) != "v" || it.TTL != 0 {
		t.Fatalf("GetAndTouch(0): %q TTL %v %v", it.Value, it.TTL, err)
	}
	if r := result("gat", "forever"); r != resultHit {
		t.Fatalf("OnRequest result %q, want hit", r)
	}
	if got, err := a.Get(ctx, "forever"); err != nil || got.TTL != -1 {
		t.Fatalf("zone a after GetAndTouch(0): TTL %d %v, want -1 (never)", got.TTL, err)
	}
	for _, p := range []*transport.Pool{b, cz} {
		eventually(t, "other zones touched to never expire", func() bool {
			got, err := p.Get(ctx, "forever")
			return err == nil && got.TTL == -1
		})
	}
}
