package nodeclient

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/protocol"
)

// opsSuite checks every operation's semantics against a real node.
func opsSuite(t *testing.T, addr string) {
	n := newTestNode(t, addr, Config{Online: relaxed, Batch: relaxed})
	ctx := testCtx(t)
	for _, p := range []*Pool{n.Online(), n.Batch()} {
		pfx := p.Class().String() + ":"
		t.Run(p.Class().String(), func(t *testing.T) {
			k := func(s string) string { return pfx + s }

			if _, err := p.Get(ctx, k("missing")); !errors.Is(err, ErrCacheMiss) {
				t.Fatalf("Get missing: %v, want ErrCacheMiss", err)
			}
			if err := p.Set(ctx, Item{Key: k("a"), Value: []byte("hello"), Flags: 42, TTL: 100}); err != nil {
				t.Fatalf("Set: %v", err)
			}
			it, err := p.Get(ctx, k("a"))
			if err != nil || string(it.Value) != "hello" || it.Flags != 42 || it.CAS == 0 || it.TTL < 90 || it.TTL > 100 || it.Key != k("a") {
				t.Fatalf("Get after Set: %+v, %v", it, err)
			}
			if err := p.Set(ctx, Item{Key: k("forever"), Value: []byte{}}); err != nil {
				t.Fatal(err)
			}
			if it, err := p.Get(ctx, k("forever")); err != nil || it.TTL != -1 || len(it.Value) != 0 {
				t.Fatalf("empty value, no TTL: %+v %v", it, err)
			}

			// add / replace
			if err := p.Add(ctx, Item{Key: k("a"), Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
				t.Fatalf("Add existing: %v", err)
			}
			if err := p.Add(ctx, Item{Key: k("b"), Value: []byte("bee")}); err != nil {
				t.Fatalf("Add new: %v", err)
			}
			if err := p.Replace(ctx, Item{Key: k("nope"), Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
				t.Fatalf("Replace missing: %v", err)
			}
			if err := p.Replace(ctx, Item{Key: k("b"), Value: []byte("B")}); err != nil {
				t.Fatalf("Replace: %v", err)
			}
			// append / prepend
			if err := p.Append(ctx, Item{Key: k("b"), Value: []byte(">")}); err != nil {
				t.Fatal(err)
			}
			if err := p.Prepend(ctx, Item{Key: k("b"), Value: []byte("<")}); err != nil {
				t.Fatal(err)
			}
			if it, _ := p.Get(ctx, k("b")); string(it.Value) != "<B>" {
				t.Fatalf("after append/prepend: %q", it.Value)
			}
			if err := p.Append(ctx, Item{Key: k("nope"), Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
				t.Fatalf("Append missing: %v", err)
			}

			// cas
			it, _ = p.Get(ctx, k("a"))
			if err := p.CompareAndSwap(ctx, Item{Key: k("a"), Value: []byte("v2"), CAS: it.CAS}); err != nil {
				t.Fatalf("CAS with fresh value: %v", err)
			}
			if err := p.CompareAndSwap(ctx, Item{Key: k("a"), Value: []byte("v3"), CAS: it.CAS}); !errors.Is(err, ErrCASConflict) {
				t.Fatalf("CAS with stale value: %v", err)
			}
			if err := p.CompareAndSwap(ctx, Item{Key: k("gone"), Value: []byte("v"), CAS: 1}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("CAS missing key: %v", err)
			}
			cas, err := p.Store(ctx, Item{Key: k("a"), Value: []byte("v4")}, StoreOptions{})
			if it2, _ := p.Get(ctx, k("a")); err != nil || cas == 0 || it2.CAS != cas || string(it2.Value) != "v4" {
				t.Fatalf("Store returned CAS %d, item %+v, err %v", cas, it2, err)
			}

			// delete
			if err := p.Delete(ctx, k("a")); err != nil {
				t.Fatal(err)
			}
			if err := p.Delete(ctx, k("a")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Delete twice: %v", err)
			}
			if _, err := p.Get(ctx, k("a")); !errors.Is(err, ErrCacheMiss) {
				t.Fatalf("Get after delete: %v", err)
			}

			// incr / decr
			if _, err := p.Incr(ctx, k("n"), 1); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Incr missing: %v", err)
			}
			_ = p.Set(ctx, Item{Key: k("n"), Value: []byte("10")})
			if v, err := p.Incr(ctx, k("n"), 5); err != nil || v != 15 {
				t.Fatalf("Incr: %d %v", v, err)
			}
			if v, err := p.Decr(ctx, k("n"), 6); err != nil || v != 9 {
				t.Fatalf("Decr: %d %v", v, err)
			}
			if v, err := p.Decr(ctx, k("n"), 100); err != nil || v != 0 {
				t.Fatalf("Decr below 0: %d %v", v, err)
			}
			_ = p.Set(ctx, Item{Key: k("max"), Value: []byte("18446744073709551615")})
			if v, err := p.Incr(ctx, k("max"), 2); err != nil || v != 1 {
				t.Fatalf("Incr wraps: %d %v", v, err)
			}
			_ = p.Set(ctx, Item{Key: k("text"), Value: []byte("abc")})
			if _, err := p.Incr(ctx, k("text"), 1); !errors.Is(err, protocol.ErrClientError) {
				t.Fatalf("Incr non-numeric: %v", err)
			}

			// touch / gat
			if err := p.Touch(ctx, k("b"), 500); err != nil {
				t.Fatal(err)
			}
			if it, _ := p.Get(ctx, k("b")); it.TTL < 490 {
				t.Fatalf("TTL after touch: %d", it.TTL)
			}
			if err := p.Touch(ctx, k("nope"), 5); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Touch missing: %v", err)
			}
			if it, err := p.GetAndTouch(ctx, k("b"), 1000); err != nil || string(it.Value) != "<B>" {
				t.Fatalf("GetAndTouch: %+v %v", it, err)
			}
			if it, _ := p.Get(ctx, k("b")); it.TTL < 990 {
				t.Fatalf("TTL after GetAndTouch: %d", it.TTL)
			}
			if _, err := p.GetAndTouch(ctx, k("nope"), 5); !errors.Is(err, ErrCacheMiss) {
				t.Fatalf("GetAndTouch missing: %v", err)
			}

			// multi-get
			keys := []string{k("m0"), k("m1"), k("missing1"), k("m2"), k("missing2")}
			for i := 0; i < 3; i++ {
				if err := p.Set(ctx, Item{Key: k(fmt.Sprintf("m%d", i)), Value: []byte(fmt.Sprintf("val%d", i)), Flags: uint32(i)}); err != nil {
					t.Fatal(err)
				}
			}
			m, err := p.GetMulti(ctx, keys)
			if err != nil || len(m) != 3 {
				t.Fatalf("GetMulti: %v, %d hits", err, len(m))
			}
			for i := 0; i < 3; i++ {
				it := m[k(fmt.Sprintf("m%d", i))]
				if string(it.Value) != fmt.Sprintf("val%d", i) || it.Flags != uint32(i) || it.CAS == 0 {
					t.Fatalf("GetMulti m%d = %+v", i, it)
				}
			}
			if m, err := p.GetMulti(ctx, nil); err != nil || len(m) != 0 {
				t.Fatalf("GetMulti(nil): %v %v", m, err)
			}

			if err := p.Noop(ctx); err != nil {
				t.Fatalf("Noop: %v", err)
			}
			big := bytes.Repeat([]byte("x"), 500<<10)
			if err := p.Set(ctx, Item{Key: k("big"), Value: big}); err != nil {
				t.Fatal(err)
			}
			if it, err := p.Get(ctx, k("big")); err != nil || !bytes.Equal(it.Value, big) {
				t.Fatalf("big value: %d bytes, %v", len(it.Value), err)
			}
		})
	}
}

// leaseSuite checks the herd-protection flags against a real node.
func leaseSuite(t *testing.T, addr string) {
	n := newTestNode(t, addr, Config{Online: relaxed})
	ctx := testCtx(t)
	p := n.Online()

	if _, err := p.LeaseGet(ctx, "herd", LeaseOptions{}); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("LeaseGet without vivify on a miss: %v", err)
	}
	l, err := p.LeaseGet(ctx, "herd", LeaseOptions{VivifyTTL: 30})
	if err != nil || !l.Won || l.WinSent || len(l.Value) != 0 {
		t.Fatalf("first LeaseGet: %+v %v", l, err)
	}
	l, err = p.LeaseGet(ctx, "herd", LeaseOptions{VivifyTTL: 30})
	if err != nil || l.Won || !l.WinSent {
		t.Fatalf("second LeaseGet: %+v %v", l, err)
	}
	if err := p.Set(ctx, Item{Key: "herd", Value: []byte("fresh"), TTL: 60}); err != nil {
		t.Fatal(err)
	}
	l, err = p.LeaseGet(ctx, "herd", LeaseOptions{VivifyTTL: 30})
	if err != nil || l.Won || l.WinSent || l.Stale || string(l.Value) != "fresh" {
		t.Fatalf("after Set: %+v %v", l, err)
	}
	// Mark stale: the next reader wins the refresh and sees the old value.
	if err := p.Invalidate(ctx, "herd", 30); err != nil {
		t.Fatal(err)
	}
	l, err = p.LeaseGet(ctx, "herd", LeaseOptions{})
	if err != nil || !l.Stale || !l.Won || string(l.Value) != "fresh" {
		t.Fatalf("first read after Invalidate: %+v %v", l, err)
	}
	l2, err := p.LeaseGet(ctx, "herd", LeaseOptions{})
	if err != nil || !l2.Stale || l2.Won || !l2.WinSent {
		t.Fatalf("second read after Invalidate: %+v %v", l2, err)
	}
	// The winner stores with its CAS and invalidate (kept stale if a newer
	// write raced), here it simply refreshes the item.
	if _, err := p.Store(ctx, Item{Key: "herd", Value: []byte("new"), CAS: l.CAS}, StoreOptions{Invalidate: true}); err != nil {
		t.Fatalf("Store with I and C: %v", err)
	}
	if err := p.Invalidate(ctx, "nokey", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Invalidate missing: %v", err)
	}
	// Early recache: R above the TTL left makes this reader win.
	_ = p.Set(ctx, Item{Key: "early", Value: []byte("v"), TTL: 10})
	l, err = p.LeaseGet(ctx, "early", LeaseOptions{RecacheBelow: 30})
	if err != nil || !l.Won {
		t.Fatalf("R recache: %+v %v", l, err)
	}
	touchLeaseSuite(t, n)
}

// touchLeaseSuite: GetAndTouch is one request that touches (T0 too) and
// returns the lease flags and the TTL from before the touch; the node
// touches a stub too, and SwapTTL gives it its lifetime back.
func touchLeaseSuite(t *testing.T, n *Node) {
	ctx := testCtx(t)
	p := n.Online()
	if err := p.Set(ctx, Item{Key: "gat", Value: []byte("v"), TTL: 100}); err != nil {
		t.Fatal(err)
	}
	sent := n.Stats().Sent
	l, err := p.GetAndTouch(ctx, "gat", 0)
	if err != nil || string(l.Value) != "v" || l.Size != 1 || l.TTL <= 0 || l.TTL > 100 || l.CAS == 0 || l.WinSent || l.Won || l.Stale {
		t.Fatalf("GetAndTouch(0): %+v %v, want the value, its TTL before the touch and no lease flags", l, err)
	}
	if d := n.Stats().Sent - sent; d != 1 {
		t.Fatalf("GetAndTouch sent %d requests, want 1", d)
	}
	if it, err := p.Get(ctx, "gat"); err != nil || it.TTL != -1 {
		t.Fatalf("after GetAndTouch(0): TTL %d %v, want -1 (never expires)", it.TTL, err)
	}
	if _, err := p.GetAndTouch(ctx, "gat-missing", 0); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("GetAndTouch missing: %v, want ErrCacheMiss", err)
	}

	stub, err := p.LeaseGet(ctx, "gat-stub", LeaseOptions{VivifyTTL: 30})
	if err != nil || !stub.Won {
		t.Fatalf("vivify: %+v %v", stub, err)
	}
	l, err = p.GetAndTouch(ctx, "gat-stub", 500)
	if err != nil || !l.WinSent || l.Won || l.Stale || len(l.Value) != 0 || l.TTL <= 0 || l.TTL > 30 || l.CAS != stub.CAS {
		t.Fatalf("GetAndTouch of a stub: %+v %v, want the stub (Z, empty) with its TTL before the touch", l, err)
	}
	prev, err := p.SwapTTL(ctx, "gat-stub", l.TTL)
	if err != nil || prev.TTL <= 30 || prev.TTL > 500 || prev.CAS != stub.CAS || !prev.WinSent || prev.Value != nil || prev.Size != 0 {
		t.Fatalf("SwapTTL: %+v %v, want the touched stub's TTL (above 30) and CAS, no value", prev, err)
	}
	if got, err := p.LeaseGet(ctx, "gat-stub", LeaseOptions{}); err != nil || !got.WinSent || got.TTL <= 0 || got.TTL > 30 {
		t.Fatalf("stub after SwapTTL: %+v %v, want its TTL of at most 30 back", got, err)
	}
	if prev, err := p.SwapTTL(ctx, "gat", 0); err != nil || prev.Size != 1 || prev.Value != nil || prev.TTL != -1 || prev.WinSent {
		t.Fatalf("SwapTTL of a value: %+v %v, want its size 1, TTL -1, no value", prev, err)
	}
	if _, err := p.SwapTTL(ctx, "gat-missing", 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SwapTTL missing: %v, want ErrNotFound", err)
	}
}

func TestOpsMemcached(t *testing.T)   { opsSuite(t, startMemcached(t).Addr) }
func TestLeaseMemcached(t *testing.T) { leaseSuite(t, startMemcached(t).Addr) }

// TestBadInputNeverSent proves that invalid keys and oversized values are
// refused before anything reaches the network, by the proxy's byte count.
func TestBadInputNeverSent(t *testing.T) {
	mc := startMemcached(t)
	px := startProxy(t, mc.Addr)
	n := newTestNode(t, px.addr(), Config{MaxValueSize: 1000, Online: PoolConfig{Conns: 1, Timeout: relaxed.Timeout}})
	ctx := testCtx(t)
	p := n.Online()
	if err := p.Noop(ctx); err != nil { // connect first: the handshake's bytes are the baseline
		t.Fatal(err)
	}
	before, sent := px.upBytes.Load(), n.Stats().Sent

	long := strings.Repeat("k", 251)
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"get long key", second(p.Get(ctx, long)), protocol.ErrKeyTooLong},
		{"get space", second(p.Get(ctx, "a b")), protocol.ErrKeyBadChar},
		{"get newline", second(p.Get(ctx, "a\r\nset x")), protocol.ErrKeyBadChar},
		{"get control", second(p.Get(ctx, "a\x01")), protocol.ErrKeyBadChar},
		{"get empty", second(p.Get(ctx, "")), protocol.ErrKeyEmpty},
		{"set long key", p.Set(ctx, Item{Key: long, Value: []byte("v")}), protocol.ErrKeyTooLong},
		{"set too large", p.Set(ctx, Item{Key: "ok", Value: make([]byte, 1001)}), ErrValueTooLarge},
		{"append too large", p.Append(ctx, Item{Key: "ok", Value: make([]byte, 5000)}), ErrValueTooLarge},
		{"delete tab", p.Delete(ctx, "a\tb"), protocol.ErrKeyBadChar},
		{"incr space", second(p.Incr(ctx, "a b", 1)), protocol.ErrKeyBadChar},
		{"touch long", p.Touch(ctx, long, 1), protocol.ErrKeyTooLong},
		{"multi one bad", second(p.GetMulti(ctx, []string{"good", "bad key"})), protocol.ErrKeyBadChar},
		{"lease long", second(p.LeaseGet(ctx, long, LeaseOptions{VivifyTTL: 1})), protocol.ErrKeyTooLong},
		{"invalidate empty", p.Invalidate(ctx, "", 1), protocol.ErrKeyEmpty},
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	// A value exactly at the limit goes through.
	if err := p.Set(ctx, Item{Key: "ok", Value: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Noop(ctx); err != nil { // everything written before this has arrived
		t.Fatal(err)
	}
	okBytes := int64(len(protocol.AppendSet(nil, "ok", make([]byte, 1000), &protocol.Args{
		Flags: protocol.FlagReturnCAS | protocol.WithTTL | protocol.WithClientFlags | protocol.WithOpaque, Opaque: 2})))
	mnBytes := int64(len("mn\r\n"))
	if got := px.upBytes.Load() - before; got != okBytes+mnBytes {
		t.Fatalf("proxy saw %d bytes after the refused requests, want %d (the valid set and mn only)", got, okBytes+mnBytes)
	}
	if got := n.Stats().Sent - sent; got != 2 {
		t.Fatalf("Sent grew by %d, want 2", got)
	}
}

func second[T any](_ T, err error) error { return err }
