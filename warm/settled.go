package warm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// ErrUnsettled is wrapped by Warm's error, and by package reshard's, when
// the topology is in the middle of a change, such as a dead node gossip
// has not dropped yet: a copy made now would miss keys once it settles.
var ErrUnsettled = errors.New("topology unsettled")

// CheckAnswering asks every node at once for its version, each within
// dial.DialTimeout (default DefaultDialTimeout) and connecting as dial.Dial
// does, and fails, wrapping
// ErrUnsettled, naming the nodes that do not answer (dead, or hung: a
// stopped process still accepts connections) and saying what to do. It
// returns ctx's error when ctx ends first.
func CheckAnswering(ctx context.Context, nodes []replication.Node, dial nodeclient.Config) error {
	if dial.DialTimeout <= 0 {
		dial.DialTimeout = DefaultDialTimeout
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			if err := askVersion(ctx, n.Addr, dial); err != nil {
				errs[i] = fmt.Errorf("%w: node %s (%s) does not answer (%w): a dead node is still listed; wait until gossip drops it, or take it out of the topology",
					ErrUnsettled, n.ID, n.Addr, err)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// askVersion sends `version` to addr and reads the VERSION reply, all
// within dial.DialTimeout.
func askVersion(ctx context.Context, addr string, dial nodeclient.Config) error {
	ctx, cancel := context.WithTimeout(ctx, dial.DialTimeout)
	defer cancel()
	c, err := dial.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// A node that requires authentication answers, too.
	if !strings.HasPrefix(line, "VERSION ") && line != "CLIENT_ERROR unauthenticated\r\n" {
		return fmt.Errorf("version: unexpected %q", strings.TrimSpace(line))
	}
	return nil
}

// warmNodes are the nodes a warm-up of target from zone from depends on:
// those of target's zone that take writes (they decide which keys target
// owns) and those of from that serve reads (they are copied).
func warmNodes(top replication.Topology, targetZone, from string) []replication.Node {
	return slices.Concat(top.ZoneNodes(targetZone, replication.NodeState.TakesWrites),
		top.ZoneNodes(from, replication.NodeState.ServesReads))
}
