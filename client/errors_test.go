package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// A program outside the module tells the causes of errors apart with
// errors.Is against package client's variables alone: an empty key, an
// oversized value, an open breaker.
func TestErrorsIsFromOutside(t *testing.T) {
	p := testproc.StartZonecachedOn(t, "127.0.0.1", "-m", "64")
	cfg := client.Config{
		Zone:     "a",
		Topology: replication.Topology{Epoch: 1, Nodes: []replication.Node{{ID: "a0", Zone: "a", Addr: p.Addr}}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	cfg.Node.Online.Timeout = 5 * time.Second
	cfg.Node.DialTimeout = 3 * time.Second
	cfg.Node.MaxValueSize = 1000
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := c.Get(ctx, ""); !errors.Is(err, client.ErrKeyEmpty) || !errors.Is(err, client.ErrInvalidKey) {
		t.Fatalf("empty key: %v, want ErrKeyEmpty and ErrInvalidKey", err)
	}
	_, err = c.Set(ctx, client.Item{Key: "big", Value: []byte(strings.Repeat("x", 1001))})
	if !errors.Is(err, client.ErrValueTooLarge) {
		t.Fatalf("oversized value: %v, want ErrValueTooLarge", err)
	}
	if _, err := c.Set(ctx, client.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("a value within the limit: %v", err)
	}

	// The only node dies: reads fail as unavailable, first with the
	// connection's failure (ErrConnClosed, or ErrUnreachable for a refused
	// dial), then, once the breaker has opened, fast with ErrCircuitOpen.
	p.Kill()
	testproc.Eventually(t, 20*time.Second, "Get fails with ErrCircuitOpen once the breaker opens", func() bool {
		_, err := c.Get(ctx, "k")
		if !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("Get from a dead node: %v, want ErrUnavailable", err)
		}
		return errors.Is(err, client.ErrCircuitOpen)
	})
}

// A node whose port is closed fails with ErrUnreachable: a read falls back
// to the next zone as before (a fallback hit, no error), and with no other
// zone the read fails with ErrUnavailable wrapping ErrUnreachable; the
// refused dial opens the breaker, so the next read fails fast with
// ErrCircuitOpen.
func TestUnreachableNode(t *testing.T) {
	p := testproc.StartZonecachedOn(t, "127.0.0.1", "-m", "64")
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(testproc.FreePort(t, "127.0.0.1")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newClient := func(nodes []replication.Node, hooks client.Hooks) *client.Client {
		cfg := client.Config{Zone: "a", Topology: replication.Topology{Epoch: 1, Nodes: nodes}, Hooks: hooks,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		cfg.Node.Online.Timeout = 5 * time.Second
		cfg.Node.DialTimeout = 3 * time.Second
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	b := nodeclient.NewNode(p.Addr, nodeclient.Config{Online: nodeclient.PoolConfig{Timeout: 5 * time.Second}})
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Online().Set(ctx, nodeclient.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var localErr error
	var result string
	c := newClient([]replication.Node{{ID: "a0", Zone: "a", Addr: closed}, {ID: "b0", Zone: "b", Addr: p.Addr}}, client.Hooks{
		OnAttempt: func(_ context.Context, e client.AttemptEvent) {
			if e.Zone == "a" {
				mu.Lock()
				localErr = e.Err
				mu.Unlock()
			}
		},
		OnRequest: func(_ context.Context, e client.RequestEvent) {
			mu.Lock()
			result = e.Result
			mu.Unlock()
		},
	})
	it, err := c.Get(ctx, "k")
	mu.Lock()
	res, aErr := result, localErr
	mu.Unlock()
	if err != nil || string(it.Value) != "v" || res != "fallback_hit" {
		t.Fatalf("Get with the local node unreachable: %q %v (%s), want zone b's value as a fallback hit", it.Value, err, res)
	}
	if !errors.Is(aErr, client.ErrUnreachable) {
		t.Fatalf("the local zone's attempt: %v, want ErrUnreachable", aErr)
	}

	alone := newClient([]replication.Node{{ID: "a0", Zone: "a", Addr: closed}}, client.Hooks{})
	if _, err := alone.Get(ctx, "k"); !errors.Is(err, client.ErrUnavailable) || !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("Get with the only node unreachable: %v, want ErrUnavailable wrapping ErrUnreachable", err)
	}
	if _, err := alone.Get(ctx, "k"); !errors.Is(err, client.ErrCircuitOpen) || errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("the next Get: %v, want ErrCircuitOpen (the refused dial opened the breaker)", err)
	}
}
