package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/testproc"
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
	cfg.Transport.Online.Timeout = 5 * time.Second
	cfg.Transport.DialTimeout = 3 * time.Second
	cfg.Transport.MaxValueSize = 1000
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
	// connection's failure (a refused dial wraps the net error), then,
	// once the breaker has opened, fast with ErrCircuitOpen.
	p.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.Get(ctx, "k")
		if !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("Get from a dead node: %v, want ErrUnavailable", err)
		}
		if errors.Is(err, client.ErrCircuitOpen) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the breaker did not open within 20s; last error %v", err)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}
