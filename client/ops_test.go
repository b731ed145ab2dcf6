package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// replicaValues reads key on every zone's replica behind the client.
func replicaValues(t *testing.T, c *Client, key string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, z := range c.c.view.Load().order {
		it, err := direct(t, replicaOf(c, z, key).node.Addr).Get(testCtx(t), key)
		switch {
		case err == nil:
			out[z] = string(it.Value)
		case errors.Is(err, nodeclient.ErrCacheMiss):
			out[z] = "<miss>"
		default:
			t.Fatalf("zone %s: %v", z, err)
		}
	}
	return out
}

func sameEverywhere(vals map[string]string, want string) bool {
	for _, v := range vals {
		if v != want {
			return false
		}
	}
	return len(vals) > 0
}

func TestAddArbiterAndFixup(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "c", func(c *Config) { c.WritePolicy = replication.All })
	if _, err := c.Add(ctx, Item{Key: "k", Value: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(ctx, Item{Key: "k", Value: []byte("second")}); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Add of an existing key: %v", err)
	}
	if v := replicaValues(t, c, "k"); !sameEverywhere(v, "first") {
		t.Fatalf("replicas after a rejected Add: %v", v)
	}
	// The arbiter (zone a, first by name) lost the key; b and c still hold
	// it. The Add wins at the arbiter and the others converge on it.
	if err := direct(t, f.proc("a0").Addr).Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(ctx, Item{Key: "k", Value: []byte("third")}); err != nil {
		t.Fatal(err)
	}
	if v := replicaValues(t, c, "k"); !sameEverywhere(v, "third") {
		t.Fatalf("replicas after the fix-up: %v", v)
	}
}

func TestCompareAndSwapOnReadReplica(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "b", func(c *Config) { c.WritePolicy = replication.All })
	if _, err := c.Set(ctx, Item{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	it, err := c.Get(ctx, "k")
	if err != nil || it.zone != "b" {
		t.Fatalf("Get: %v from zone %q", err, it.zone)
	}
	it.Value = []byte("v2")
	if _, err := c.CompareAndSwap(ctx, it); err != nil {
		t.Fatal(err)
	}
	if v := replicaValues(t, c, "k"); !sameEverywhere(v, "v2") {
		t.Fatalf("replicas after CAS: %v", v)
	}
	it.Value = []byte("v3")
	if _, err := c.CompareAndSwap(ctx, it); !errors.Is(err, ErrCASConflict) {
		t.Fatalf("CAS with a used token: %v", err)
	}
	if v := replicaValues(t, c, "k"); !sameEverywhere(v, "v2") {
		t.Fatalf("a failed CAS wrote: %v", v)
	}
}

func TestIncrDecrReconcile(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "a", func(c *Config) { c.WritePolicy = replication.All })
	if _, err := c.Incr(ctx, "ctr", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Incr of a missing key: %v", err)
	}
	if _, err := c.Set(ctx, Item{Key: "ctr", Value: []byte("10"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Incr(ctx, "ctr", 5); err != nil || v != 15 {
		t.Fatalf("Incr: %d %v", v, err)
	}
	// Zone b's replica lags behind.
	if err := direct(t, f.proc("b0").Addr).Set(ctx, nodeclient.Item{Key: "ctr", Value: []byte("3")}); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Incr(ctx, "ctr", 1); err != nil || v != 16 {
		t.Fatalf("Incr with a lagging replica: %d %v; the largest value wins", v, err)
	}
	eventually(t, "replicas reconciled to 16", func() bool { return sameEverywhere(replicaValues(t, c, "ctr"), "16") })
	it, err := direct(t, f.proc("b0").Addr).Get(ctx, "ctr")
	if err != nil || it.TTL <= 0 {
		t.Fatalf("the reconciled copy lost its TTL: %d %v", it.TTL, err)
	}
	if err := direct(t, f.proc("c0").Addr).Set(ctx, nodeclient.Item{Key: "ctr", Value: []byte("100")}); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Decr(ctx, "ctr", 1); err != nil || v != 15 {
		t.Fatalf("Decr with a replica ahead: %d %v; the smallest value wins", v, err)
	}
	eventually(t, "replicas reconciled to 15", func() bool { return sameEverywhere(replicaValues(t, c, "ctr"), "15") })
	if _, err := c.Set(ctx, Item{Key: "word", Value: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Incr(ctx, "word", 1); !errors.Is(err, protocol.ErrClientError) {
		t.Fatalf("Incr of a non-number: %v", err)
	}
}

func TestConditionalWritesAndTouch(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	ctx := testCtx(t)
	c := newTestClient(t, f.topo, "a", func(c *Config) { c.WritePolicy = replication.All })
	if _, err := c.Replace(ctx, Item{Key: "r", Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Replace of a missing key: %v", err)
	}
	if _, err := c.Append(ctx, Item{Key: "r", Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Append to a missing key: %v", err)
	}
	if _, err := c.Touch(ctx, "r", time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Touch of a missing key: %v", err)
	}
	if _, err := c.Set(ctx, Item{Key: "r", Value: []byte("mid")}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() (WriteResult, error){
		func() (WriteResult, error) { return c.Replace(ctx, Item{Key: "r", Value: []byte("mid")}) },
		func() (WriteResult, error) { return c.Append(ctx, Item{Key: "r", Value: []byte(">")}) },
		func() (WriteResult, error) { return c.Prepend(ctx, Item{Key: "r", Value: []byte("<")}) },
		func() (WriteResult, error) { return c.Touch(ctx, "r", time.Hour) },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if v := replicaValues(t, c, "r"); !sameEverywhere(v, "<mid>") {
		t.Fatalf("replicas: %v", v)
	}
	it, err := c.GetAndTouch(ctx, "r", 2*time.Hour)
	if err != nil || string(it.Value) != "<mid>" {
		t.Fatalf("GetAndTouch: %q %v", it.Value, err)
	}
	eventually(t, "every replica touched", func() bool {
		for _, z := range []string{"a", "b"} {
			it, err := direct(t, replicaOf(c, z, "r").node.Addr).Get(context.Background(), "r")
			if err != nil || it.TTL < 3600+1800 {
				return false
			}
		}
		return true
	})
}
