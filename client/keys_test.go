package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/replication"
)

// Keys carry the prefix; keys too long or invalid for memcached are hashed
// with an envelope, and a forced hash collision reads as a miss.
func TestKeyPrefixAndHashing(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "a", func(c *Config) { c.KeyPrefix = "app1:"; c.WritePolicy = replication.All })
	a0 := direct(t, f.proc("a0").Addr)
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if it, err := a0.Get(ctx, "app1:k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("prefixed key on the node: %q %v", it.Value, err)
	}
	long := strings.Repeat("x", 400)
	spaced := "has space\r\n"
	for _, key := range []string{long, spaced} {
		if _, err := c.Set(ctx, Item{Key: key, Value: []byte("val-" + key[:3])}); err != nil {
			t.Fatalf("Set %q: %v", key[:10], err)
		}
		it, err := c.Get(ctx, key)
		if err != nil || string(it.Value) != "val-"+key[:3] || it.Key != key {
			t.Fatalf("Get %q: %q %v", key[:10], it.Value, err)
		}
		k, _ := c.c.mapKey(key)
		if !k.hashed || !strings.HasPrefix(k.node, "app1:#") || len(k.node) > 250 {
			t.Fatalf("node key %q", k.node)
		}
		raw, err := a0.Get(ctx, k.node)
		if err != nil || !strings.HasPrefix(string(raw.Value), envelopeMagic) || !strings.Contains(string(raw.Value), "app1:"+key) {
			t.Fatalf("stored envelope: %q %v", raw.Value, err)
		}
	}
	got, err := c.GetMulti(ctx, []string{"k", long, spaced})
	if err != nil || len(got) != 3 {
		t.Fatalf("GetMulti over hashed keys: %v %v", got, err)
	}
	if _, err := c.Append(ctx, Item{Key: long, Value: []byte("!")}); !errors.Is(err, ErrKeyHashed) {
		t.Fatalf("Append on a hashed key: %v", err)
	}

	// Every long key hashes to the same node key: a collision.
	coll := newTestClient(t, f.topo, "a", func(c *Config) {
		c.KeyPrefix = "app2:"
		c.hashKey = func(string) string { return "same" }
	})
	keyA, keyB := strings.Repeat("a", 300), strings.Repeat("b", 300)
	if _, err := coll.Set(ctx, Item{Key: keyA, Value: []byte("A")}); err != nil {
		t.Fatal(err)
	}
	if it, err := coll.Get(ctx, keyB); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("a colliding key read %q, %v; want a miss", it.Value, err)
	}
	if it, err := coll.Get(ctx, keyA); err != nil || string(it.Value) != "A" {
		t.Fatalf("the stored key: %q %v", it.Value, err)
	}
	if n := testutil.ToFloat64(coll.c.metrics.collisions); n < 1 {
		t.Fatalf("collisions metric %v", n)
	}
	if _, err := c.Get(ctx, ""); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty key: %v", err)
	}
}
