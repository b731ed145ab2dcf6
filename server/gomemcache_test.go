package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

// An independent client library against zonecached: gomemcache speaks the
// text protocol and checks every reply it gets.
func TestGomemcacheClient(t *testing.T) {
	_, addr := startServer(t, Config{})
	mc := memcache.New(addr)
	mc.Timeout = ioDeadline
	if err := mc.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := mc.Set(&memcache.Item{Key: "foo", Value: []byte("bar"), Flags: 7}); err != nil {
		t.Fatal(err)
	}
	it, err := mc.Get("foo")
	if err != nil || string(it.Value) != "bar" || it.Flags != 7 {
		t.Fatalf("Get: %+v %v", it, err)
	}
	it.Value = []byte("baz")
	if err := mc.CompareAndSwap(it); err != nil {
		t.Fatalf("CAS: %v", err)
	}
	if err := mc.CompareAndSwap(it); !errors.Is(err, memcache.ErrCASConflict) {
		t.Fatalf("second CAS: %v", err)
	}
	if err := mc.Add(&memcache.Item{Key: "foo", Value: []byte("x")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("Add existing: %v", err)
	}
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = "multi" + strings.Repeat("k", i%40) + string(rune('a'+i%26)) + string(rune('0'+i/26))
		if i%3 == 0 {
			if err := mc.Set(&memcache.Item{Key: keys[i], Value: []byte(keys[i])}); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, err := mc.GetMulti(keys)
	if err != nil || len(m) != 100 {
		t.Fatalf("GetMulti: %d items, %v", len(m), err)
	}
	for k, it := range m {
		if string(it.Value) != k {
			t.Fatalf("GetMulti %s = %q", k, it.Value)
		}
	}
	if _, err := mc.Increment("n", 1); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Increment missing: %v", err)
	}
	_ = mc.Set(&memcache.Item{Key: "n", Value: []byte("41")})
	if v, err := mc.Increment("n", 1); err != nil || v != 42 {
		t.Fatalf("Increment: %d %v", v, err)
	}
	if v, err := mc.Decrement("n", 100); err != nil || v != 0 {
		t.Fatalf("Decrement: %d %v", v, err)
	}
	if err := mc.Touch("foo", 100); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if err := mc.Delete("foo"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := mc.Get("foo"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Get deleted: %v", err)
	}
	if err := mc.DeleteAll(); err != nil {
		t.Fatalf("DeleteAll: %v", err)
	}
	if _, err := mc.Get("n"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Get after flush: %v", err)
	}
}
