package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/replication"
)

// WaitTopology fetches the topology through cfg's seeds until it lists
// want nodes (want 0: any answer; gossip takes a moment to converge), ctx
// ends or within passes, polling every 100 ms. It returns the last view and
// why it is not the one wanted.
func WaitTopology(ctx context.Context, cfg discovery.Config, want int, within time.Duration) (replication.Topology, error) {
	deadline := time.Now().Add(within)
	for {
		top, err := discovery.Fetch(ctx, cfg)
		if err == nil && (want == 0 || len(top.Nodes) == want) {
			return top, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("the fleet lists %d of %d nodes", len(top.Nodes), want)
			}
			return top, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
