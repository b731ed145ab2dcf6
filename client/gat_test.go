package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
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
	stubTTL := func(what string, p *nodeclient.Pool, key string) {
		t.Helper()
		l, err := p.LeaseGet(ctx, key, nodeclient.LeaseOptions{})
		if err != nil || !isStub(l) || l.TTL <= 0 || l.TTL > 30 {
			t.Fatalf("%s: want the stub with its TTL of at most 30 s: %+v %v", what, l, err)
		}
	}

	// Only a stub in the local zone, nothing elsewhere: a miss.
	if l, err := a.LeaseGet(ctx, "stub", nodeclient.LeaseOptions{VivifyTTL: 30}); err != nil || !l.Won {
		t.Fatalf("vivify: %+v %v", l, err)
	}
	node := c.c.view.Load().byID["a0"].tn
	sent := node.Stats().Sent
	if it, err := c.GetAndTouch(ctx, "stub", time.Hour); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("GetAndTouch of a stub: %q %v, want ErrCacheMiss", it.Value, err)
	}
	stubTTL("after GetAndTouch", a, "stub")
	if d := node.Stats().Sent - sent; d != 2 {
		t.Fatalf("GetAndTouch of a stub sent %d requests to zone a, want 2 (the read, the stub's TTL back)", d)
	}
	if r := result("gat", "stub"); r != resultMiss {
		t.Fatalf("OnRequest result %q, want miss", r)
	}

	// A stub locally, the value in zones b and c: zone b's value, and the
	// stub is not touched.
	if l, err := a.LeaseGet(ctx, "fb", nodeclient.LeaseOptions{VivifyTTL: 30}); err != nil || !l.Won {
		t.Fatalf("vivify: %+v %v", l, err)
	}
	for _, p := range []*nodeclient.Pool{b, cz} {
		if err := p.Set(ctx, nodeclient.Item{Key: "fb", Value: []byte("remote"), TTL: 60}); err != nil {
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
	sent = node.Stats().Sent
	it, err = c.GetAndTouch(ctx, "forever", 0)
	if err != nil || string(it.Value) != "v" || it.TTL != 0 {
		t.Fatalf("GetAndTouch(0): %q TTL %v %v", it.Value, it.TTL, err)
	}
	if d := node.Stats().Sent - sent; d != 1 {
		t.Fatalf("GetAndTouch hit sent %d requests to zone a, want 1 round trip", d)
	}
	if r := result("gat", "forever"); r != resultHit {
		t.Fatalf("OnRequest result %q, want hit", r)
	}
	if got, err := a.Get(ctx, "forever"); err != nil || got.TTL != -1 {
		t.Fatalf("zone a after GetAndTouch(0): TTL %d %v, want -1 (never)", got.TTL, err)
	}
	for _, p := range []*nodeclient.Pool{b, cz} {
		eventually(t, "other zones touched to never expire", func() bool {
			got, err := p.Get(ctx, "forever")
			return err == nil && got.TTL == -1
		})
	}

	// A stub in a zone after the one read from is not touched in the
	// background either: it is touched (mg T applies to it) and gets its
	// TTL back, two requests.
	if _, err := c.Set(ctx, Item{Key: "later", Value: []byte("v"), TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := cz.Delete(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	if l, err := cz.LeaseGet(ctx, "later", nodeclient.LeaseOptions{VivifyTTL: 30}); err != nil || !l.Won {
		t.Fatalf("vivify in zone c: %+v %v", l, err)
	}
	nodeC := c.c.view.Load().byID["c0"].tn
	sentC := nodeC.Stats().Sent
	if it, err := c.GetAndTouch(ctx, "later", time.Hour); err != nil || string(it.Value) != "v" {
		t.Fatalf("GetAndTouch: %q %v", it.Value, err)
	}
	eventually(t, "zone b touched, zone c's stub touched and given its TTL back", func() bool {
		got, err := b.Get(ctx, "later")
		if err != nil || got.TTL <= 60 || nodeC.Stats().Sent-sentC < 2 {
			return false
		}
		l, err := cz.LeaseGet(ctx, "later", nodeclient.LeaseOptions{})
		return err == nil && isStub(l) && l.TTL > 0 && l.TTL <= 30
	})

	// A concurrent GetAndTouch(0) touched the stub before this one read
	// it, so the TTL read is "never": the stub gets the lease lifetime
	// back, not never.
	if _, err := cz.SwapTTL(ctx, "later", 0); err != nil {
		t.Fatal(err)
	}
	never, err := cz.LeaseGet(ctx, "later", nodeclient.LeaseOptions{})
	if err != nil || !isStub(never) || never.TTL != -1 {
		t.Fatalf("stub touched to never: %+v %v", never, err)
	}
	untouchStub(ctx, cz, "later", never, 5*time.Second)
	if l, err := cz.LeaseGet(ctx, "later", nodeclient.LeaseOptions{}); err != nil || !isStub(l) || l.TTL <= 0 || l.TTL > 5 {
		t.Fatalf("stub after untouchStub of a never-expiring read: TTL %d %v, want the 5 s lease lifetime", l.TTL, err)
	}

	// The lease holder's value replaced the stub between GetAndTouch's
	// read and the stub's TTL coming back (a CAS other than the stub's):
	// the value keeps its own TTL.
	if err := a.Set(ctx, nodeclient.Item{Key: "raced", Value: []byte("loaded"), TTL: 600}); err != nil {
		t.Fatal(err)
	}
	cur, err := a.Get(ctx, "raced")
	if err != nil {
		t.Fatal(err)
	}
	untouchStub(ctx, a, "raced", nodeclient.Lease{Item: nodeclient.Item{Key: "raced", TTL: 20, CAS: cur.CAS + 1}, WinSent: true}, time.Minute)
	if got, err := a.Get(ctx, "raced"); err != nil || got.TTL <= 500 || string(got.Value) != "loaded" {
		t.Fatalf("a value that replaced the stub: TTL %d %q %v, want its own TTL of 600 s back", got.TTL, got.Value, err)
	}
}

// Against nodes without meta commands GetAndTouch is one gat per replica
// read: a hit costs one request, and a local miss falls back to the next
// zone. (That gat 0 makes an item never expire is checked in the
// transport's TestTextFallback.)
func TestGetAndTouchTextNodes(t *testing.T) {
	f := startFleet(t, "zonecached-text", []string{"a", "b"}, 1)
	c := newTestClient(t, f.topo, "a", func(c *Config) { c.WritePolicy = replication.All })
	ctx := testCtx(t)
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("v"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	node := c.c.view.Load().byID["a0"].tn
	sent := node.Stats().Sent
	it, err := c.GetAndTouch(ctx, "k", 0)
	if err != nil || string(it.Value) != "v" || it.TTL != 0 {
		t.Fatalf("GetAndTouch(0) from a text node: %q TTL %v %v", it.Value, it.TTL, err)
	}
	if d := node.Stats().Sent - sent; d != 1 {
		t.Fatalf("GetAndTouch hit sent %d requests to zone a, want 1", d)
	}
	if err := direct(t, f.proc("a0").Addr).Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	it, err = c.GetAndTouch(ctx, "k", time.Minute)
	if err != nil || string(it.Value) != "v" || it.zone != "b" {
		t.Fatalf("GetAndTouch after a local miss: %q from zone %q %v, want zone b's value", it.Value, it.zone, err)
	}
}
