package warm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// ErrUnsettled is wrapped by Warm's error, and by package reshard's, when
// the topology is in the middle of a change, such as a dead node gossip
// has not dropped yet: a copy made now would miss keys once it settles.
var ErrUnsettled = errors.New("topology unsettled")

// CheckAnswering connects to every node at once, each within dialTimeout
// (default DefaultDialTimeout), and fails, wrapping ErrUnsettled, naming
// the nodes that do not answer and saying what to do. It returns ctx's
// error when ctx ends first.
func CheckAnswering(ctx context.Context, nodes []replication.Node, dialTimeout time.Duration) error {
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			d := net.Dialer{Timeout: dialTimeout}
			c, err := d.DialContext(ctx, "tcp", n.Addr)
			if err != nil {
				errs[i] = fmt.Errorf("%w: node %s (%s) does not answer (%w): a dead node is still listed; wait until gossip drops it, or take it out of the topology",
					ErrUnsettled, n.ID, n.Addr, err)
				return
			}
			c.Close()
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// warmNodes are the nodes a warm-up of target from zone from depends on:
// those of target's zone that take writes (they decide which keys target
// owns) and those of from that serve reads (they are copied).
func warmNodes(top replication.Topology, targetZone, from string) []replication.Node {
	return slices.Concat(top.ZoneNodes(targetZone, replication.NodeState.TakesWrites),
		top.ZoneNodes(from, replication.NodeState.ServesReads))
}
