package nodeclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zonecache/zonecache/internal/protocol"
)

// textOnly puts a real memcached behind a filter that makes it look like a
// node from before the meta protocol: meta commands are answered ERROR, all
// else (with the data blocks of storage commands) is forwarded as is.
func textOnly(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			var out sync.Mutex // client writes: filter replies and server replies
			wg.Add(2)
			go func() {
				defer wg.Done()
				defer s.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					if len(f) > 0 && len(f[0]) == 2 && f[0][0] == 'm' {
						out.Lock()
						_, err = c.Write([]byte("ERROR\r\n"))
						out.Unlock()
						if err != nil {
							return
						}
						continue
					}
					if _, err := s.Write([]byte(line)); err != nil {
						return
					}
					switch f[0] {
					case "set", "add", "replace", "append", "prepend", "cas":
						n, _ := strconv.Atoi(f[4])
						if _, err := io.CopyN(s, br, int64(n)+2); err != nil {
							return
						}
					}
				}
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						out.Lock()
						_, werr := c.Write(buf[:n])
						out.Unlock()
						if werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestTextFallback: against a node without meta commands the transport
// falls back to the text protocol for everything the text protocol can
// express, and refuses the rest with ErrNoMeta before sending it.
func TestTextFallback(t *testing.T) {
	mc := startMemcached(t)
	n := newTestNode(t, textOnly(t, mc.Addr), Config{Online: relaxed, Batch: relaxed})
	ctx := testCtx(t)
	p := n.Online()

	if _, err := p.Get(ctx, "a"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get missing: %v", err)
	}
	if err := p.Set(ctx, Item{Key: "a", Value: []byte("hello"), Flags: 7, TTL: 100}); err != nil {
		t.Fatal(err)
	}
	it, err := p.Get(ctx, "a")
	if err != nil || string(it.Value) != "hello" || it.Flags != 7 || it.CAS == 0 {
		t.Fatalf("Get: %+v %v", it, err)
	}
	if err := p.Add(ctx, Item{Key: "a", Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Add existing: %v", err)
	}
	if err := p.Replace(ctx, Item{Key: "none", Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Replace missing: %v", err)
	}
	if err := p.Append(ctx, Item{Key: "a", Value: []byte("!")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Prepend(ctx, Item{Key: "a", Value: []byte("¡")}); err != nil {
		t.Fatal(err)
	}
	if err := p.CompareAndSwap(ctx, Item{Key: "a", Value: []byte("v2"), CAS: it.CAS}); !errors.Is(err, ErrCASConflict) {
		t.Fatalf("CAS with a CAS older than two appends: %v", err)
	}
	it, _ = p.Get(ctx, "a")
	if string(it.Value) != "¡hello!" {
		t.Fatalf("after append/prepend: %q", it.Value)
	}
	if err := p.CompareAndSwap(ctx, Item{Key: "a", Value: []byte("v2"), CAS: it.CAS}); err != nil {
		t.Fatalf("CAS: %v", err)
	}
	if err := p.CompareAndSwap(ctx, Item{Key: "none", Value: []byte("v"), CAS: 5}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CAS missing: %v", err)
	}
	if err := p.Touch(ctx, "a", 500); err != nil {
		t.Fatal(err)
	}
	if err := p.Touch(ctx, "none", 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Touch missing: %v", err)
	}
	if it, err := p.GetAndTouch(ctx, "a", 0); err != nil || string(it.Value) != "v2" || it.WinSent || it.Won || it.Stale {
		t.Fatalf("GetAndTouch: %+v %v", it, err)
	}
	// gat 0 made it never expire: look behind the filter with meta.
	if it, err := newTestNode(t, mc.Addr, Config{Online: relaxed}).Online().Get(ctx, "a"); err != nil || it.TTL != -1 {
		t.Fatalf("after GetAndTouch(0) through gat: TTL %d %v, want -1", it.TTL, err)
	}
	if _, err := p.GetAndTouch(ctx, "none", 50); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("GetAndTouch missing: %v", err)
	}
	_ = p.Set(ctx, Item{Key: "n", Value: []byte("10")})
	if v, err := p.Incr(ctx, "n", 5); err != nil || v != 15 {
		t.Fatalf("Incr: %d %v", v, err)
	}
	if v, err := p.Decr(ctx, "n", 20); err != nil || v != 0 {
		t.Fatalf("Decr: %d %v", v, err)
	}
	if _, err := p.Incr(ctx, "a", 1); !errors.Is(err, protocol.ErrClientError) {
		t.Fatalf("Incr non-numeric: %v", err)
	}
	if _, err := p.Incr(ctx, "none", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Incr missing: %v", err)
	}
	if err := p.Delete(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, "n"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete twice: %v", err)
	}
	m, err := p.GetMulti(ctx, []string{"a", "none", "a"})
	if err != nil || len(m) != 1 || string(m["a"].Value) != "v2" {
		t.Fatalf("GetMulti: %v %v", m, err)
	}
	if err := p.Noop(ctx); err != nil {
		t.Fatal(err)
	}

	sent := n.Stats().Sent
	if _, err := p.LeaseGet(ctx, "a", LeaseOptions{VivifyTTL: 30}); !errors.Is(err, ErrNoMeta) {
		t.Fatalf("LeaseGet: %v", err)
	}
	if err := p.Invalidate(ctx, "a", 30); !errors.Is(err, ErrNoMeta) {
		t.Fatalf("Invalidate: %v", err)
	}
	if _, err := p.SwapTTL(ctx, "a", 30); !errors.Is(err, ErrNoMeta) {
		t.Fatalf("SwapTTL: %v", err)
	}
	if _, err := p.Store(ctx, Item{Key: "a", Value: []byte("x"), CAS: 1}, StoreOptions{Invalidate: true}); !errors.Is(err, ErrNoMeta) {
		t.Fatalf("Store with invalidate: %v", err)
	}
	if n.Stats().Sent != sent {
		t.Fatal("requests the text protocol cannot express were sent")
	}

	// Pipelining works in text mode too (replies matched by order).
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				key, val := fmt.Sprintf("t%d:%d", w, r), fmt.Sprintf("v%d-%d", w, r)
				if err := p.Set(ctx, Item{Key: key, Value: []byte(val)}); err != nil {
					errs <- err
					return
				}
				if it, err := p.Get(ctx, key); err != nil || string(it.Value) != val {
					errs <- fmt.Errorf("%s: %q %v", key, it.Value, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n.State() != StateClosed {
		t.Fatal("breaker opened")
	}
}
