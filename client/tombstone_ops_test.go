package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

func TestTombstoneOpsMemcached(t *testing.T)      { testTombstoneOps(t, "memcached") }
func TestTombstoneOpsZonecached(t *testing.T)     { testTombstoneOps(t, "zonecached") }
func TestTombstoneOpsZonecachedText(t *testing.T) { testTombstoneOps(t, "zonecached-text") }

// testTombstoneOps runs every operation on a deleted key, within its
// hold-off: each must behave as on a missing key, and the key must stay
// deleted on every replica.
func testTombstoneOps(t *testing.T, server string) {
	f := startFleet(t, server, []string{"a", "b", "c"}, 1)
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All // every replica has answered on return
		c.DeleteHoldOff = time.Minute   // the hold-off outlives a slow test
	})
	ctx := testCtx(t)
	meta := server != "zonecached-text"
	nodes := []*nodeclient.Pool{direct(t, f.proc("a0").Addr), direct(t, f.proc("b0").Addr), direct(t, f.proc("c0").Addr)}
	// deleted asserts that every replica holds key's tombstone with no
	// more than its own lifetime left.
	deleted := func(what, key string) {
		t.Helper()
		k, _ := c.c.mapKey(key)
		for i, p := range nodes {
			it, err := p.Get(ctx, k.node)
			if err != nil || it.Flags != TombstoneFlags {
				t.Fatalf("%s: replica %d: want a tombstone, got %+v %v", what, i, it, err)
			}
			if meta && (it.TTL <= 0 || it.TTL > 61) {
				t.Fatalf("%s: replica %d: tombstone TTL %d, want within the hold-off", what, i, it.TTL)
			}
		}
	}
	setDel := func(key string, value string) Item {
		t.Helper()
		if _, err := c.Set(ctx, Item{Key: key, Value: []byte(value), TTL: time.Hour}); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
		old, err := c.Get(ctx, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		res, err := c.Delete(ctx, key)
		if err != nil || res.Succeeded != 3 {
			t.Fatalf("delete %s: %+v %v", key, res, err)
		}
		deleted("delete "+key, key)
		return old
	}
	wantErr := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s on a tombstone: %v, want %v", what, err, want)
		}
	}

	old := setDel("k", "v1")
	_, err := c.Get(ctx, "k")
	wantErr("get", err, ErrCacheMiss)
	if m, err := c.GetMulti(ctx, []string{"k"}); err != nil || len(m) != 0 {
		t.Fatalf("get multi on a tombstone: %v %v, want nothing", m, err)
	}
	_, err = c.GetAndTouch(ctx, "k", time.Hour)
	wantErr("get and touch", err, ErrCacheMiss)
	deleted("after get and touch", "k")
	_, err = c.Replace(ctx, Item{Key: "k", Value: []byte("v2")})
	wantErr("replace", err, ErrNotStored)
	_, err = c.Append(ctx, Item{Key: "k", Value: []byte("x")})
	wantErr("append", err, ErrNotStored)
	_, err = c.Prepend(ctx, Item{Key: "k", Value: []byte("x")})
	wantErr("prepend", err, ErrNotStored)
	_, err = c.Touch(ctx, "k", time.Hour)
	wantErr("touch", err, ErrNotFound)
	_, err = c.Incr(ctx, "k", 1)
	wantErr("incr", err, ErrNotFound)
	_, err = c.Decr(ctx, "k", 1)
	wantErr("decr", err, ErrNotFound)
	old.Value = []byte("v3")
	_, err = c.CompareAndSwap(ctx, old)
	wantErr("compare and swap", err, ErrNotFound)
	deleted("after every conditional op", "k")
	_, err = c.Delete(ctx, "k") // a deleted key deletes as before
	if err != nil {
		t.Fatalf("delete of a deleted key: %v", err)
	}

	// Add takes a tombstone's place: a new write after the delete.
	if _, err := c.Add(ctx, Item{Key: "k", Value: []byte("added")}); err != nil {
		t.Fatalf("add on a tombstone: %v", err)
	}
	if it, err := c.Get(ctx, "k"); err != nil || string(it.Value) != "added" {
		t.Fatalf("get after add: %q %v", it.Value, err)
	}
	_, err = c.Add(ctx, Item{Key: "k", Value: []byte("again")})
	wantErr("add on a live value", err, ErrNotStored)

	// Set overwrites a tombstone on every replica.
	setDel("s", "v1")
	if _, err := c.Set(ctx, Item{Key: "s", Value: []byte("v2")}); err != nil {
		t.Fatalf("set on a tombstone: %v", err)
	}
	for i, p := range nodes {
		if it, err := p.Get(ctx, "s"); err != nil || string(it.Value) != "v2" || it.Flags == TombstoneFlags {
			t.Fatalf("replica %d after set: %+v %v", i, it, err)
		}
	}

	// GetOrLoad loads a deleted key and its Set replaces the tombstone.
	setDel("l", "v1")
	loads := 0
	it, err := c.GetOrLoad(ctx, "l", time.Hour, func(context.Context) ([]byte, error) {
		loads++
		return []byte("loaded"), nil
	})
	if err != nil || string(it.Value) != "loaded" || loads != 1 {
		t.Fatalf("get or load of a deleted key: %q %v, %d loads", it.Value, err, loads)
	}
	if it, err := c.Get(ctx, "l"); err != nil || string(it.Value) != "loaded" {
		t.Fatalf("get after load: %q %v", it.Value, err)
	}

	// A read repair's add fails on the tombstone.
	setDel("r", "v1")
	if err := nodes[0].Add(ctx, nodeclient.Item{Key: "r", Value: []byte("v1"), TTL: 60}); !errors.Is(err, nodeclient.ErrNotStored) {
		t.Fatalf("add on a tombstone: %v, want not stored", err)
	}

	// A hashed key (too long for memcached) is deleted the same way: its
	// tombstone has no envelope and reads as a miss.
	long := strings.Repeat("h", 300)
	setDel(long, "v1")
	_, err = c.Get(ctx, long)
	wantErr("get of a hashed key", err, ErrCacheMiss)
	if _, err := c.Add(ctx, Item{Key: long, Value: []byte("v2")}); err != nil {
		t.Fatalf("add on a hashed key's tombstone: %v", err)
	}
	if it, err := c.Get(ctx, long); err != nil || string(it.Value) != "v2" {
		t.Fatalf("get of a hashed key after add: %q %v", it.Value, err)
	}

	// The reserved flags are refused.
	_, err = c.Set(ctx, Item{Key: "f", Value: []byte("v"), Flags: TombstoneFlags})
	wantErr("set with the reserved flags", err, ErrReservedFlags)
	if _, err := c.Set(ctx, Item{Key: "f", Value: []byte("v"), Flags: TombstoneFlags - 1}); err != nil {
		t.Fatalf("set with other flags: %v", err)
	}
}

// TestDeleteHoldOffOff: with DeleteHoldOff < 0 a Delete leaves nothing.
func TestDeleteHoldOffOff(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b"}, 1)
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.WritePolicy = replication.All
		c.DeleteHoldOff = -1
	})
	ctx := testCtx(t)
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a0", "b0"} {
		if _, err := direct(t, f.proc(id).Addr).Get(ctx, "k"); !errors.Is(err, nodeclient.ErrCacheMiss) {
			t.Fatalf("%s after a delete without hold-off: %v, want nothing", id, err)
		}
	}
}
