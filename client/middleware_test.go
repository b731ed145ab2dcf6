package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Under ScopeMiddleware a handler that reads a key twice asks the cache
// once per HTTP request, and each request has its own scope.
func TestScopeMiddlewareOneLookupPerRequest(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a"}, 1)
	var gets atomic.Int32
	c := newTestClient(t, f.topo, "a", func(c *Config) {
		c.Hooks.OnAttempt = func(_ context.Context, e AttemptEvent) {
			if e.Op == "get" {
				gets.Add(1)
			}
		}
	})
	if _, err := c.Set(testCtx(t), Item{Key: "mk", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	h := ScopeMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 2 {
			if _, err := c.Get(r.Context(), "mk"); err != nil {
				t.Errorf("Get: %v", err)
			}
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for range 2 {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := gets.Load(); n != 2 {
		t.Errorf("%d get attempts for 2 requests reading mk twice each, want 2", n)
	}
}
