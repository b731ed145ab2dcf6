package nodeclient_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// A Node per cache node; Online for requests on a user's path, Batch for
// bulk work with its own limits.
func Example() {
	node := nodeclient.NewNode("127.0.0.1:11211", nodeclient.Config{
		Batch: nodeclient.PoolConfig{RateLimit: 5000}, // requests per second
		Breaker: nodeclient.BreakerConfig{
			OnStateChange: func(addr string, from, to nodeclient.State) {
				fmt.Println(addr, from, "->", to)
			},
		},
	})
	defer node.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	it, err := node.Online().Get(ctx, "user:42")
	switch {
	case errors.Is(err, nodeclient.ErrCacheMiss):
		// load it, then node.Online().Set(ctx, nodeclient.Item{...})
	case errors.Is(err, nodeclient.ErrCircuitOpen):
		// the node is down: try another zone's replica at once
	case err != nil:
		// timeout, connection loss, server error: try another replica
	default:
		_ = it.Value
	}
}
