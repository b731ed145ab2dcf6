package transport_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zonecache/zonecache/internal/transport"
)

// A Node per cache node; Online for requests on a user's path, Batch for
// bulk work with its own limits.
func Example() {
	node := transport.NewNode("127.0.0.1:11211", transport.Config{
		Batch: transport.PoolConfig{RateLimit: 5000}, // requests per second
		Breaker: transport.BreakerConfig{
			OnStateChange: func(addr string, from, to transport.State) {
				fmt.Println(addr, from, "->", to)
			},
		},
	})
	defer node.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	it, err := node.Online().Get(ctx, "user:42")
	switch {
	case errors.Is(err, transport.ErrCacheMiss):
		// load it, then node.Online().Set(ctx, transport.Item{...})
	case errors.Is(err, transport.ErrCircuitOpen):
		// the node is down: try another zone's replica at once
	case err != nil:
		// timeout, connection loss, server error: try another replica
	default:
		_ = it.Value
	}
}
