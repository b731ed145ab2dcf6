package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// NodeTarget is one node (zonecached, or memcached ≥ 1.6) through the
// online pool of package nodeclient, as the smart client reaches each node.
type NodeTarget struct {
	node *nodeclient.Node
	pool *nodeclient.Pool
}

// NewNodeTarget returns a Target for the node at addr. conns ≤ 0 means
// nodeclient's default online connections; timeout ≤ 0 means
// DefaultOpTimeout; auth, when set, authenticates the connections.
// Everything else takes nodeclient's defaults.
func NewNodeTarget(addr string, conns int, timeout time.Duration, auth *nodeclient.Credentials) *NodeTarget {
	if timeout <= 0 {
		timeout = DefaultOpTimeout
	}
	n := nodeclient.NewNode(addr, nodeclient.Config{Online: nodeclient.PoolConfig{Conns: conns, Timeout: timeout}, Auth: auth})
	return &NodeTarget{node: n, pool: n.Online()}
}

// Get implements Target.
func (t *NodeTarget) Get(ctx context.Context, key string) (bool, error) {
	_, err := t.pool.Get(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, nodeclient.ErrCacheMiss):
		return false, nil
	default:
		return false, fmt.Errorf("node get: %w", err)
	}
}

// GetMulti implements Target. The keys are copied, because the transport
// may still read them after a cancelled call returns.
func (t *NodeTarget) GetMulti(ctx context.Context, keys []string) (int, error) {
	items, err := t.pool.GetMulti(ctx, slices.Clone(keys))
	if err != nil {
		return len(items), fmt.Errorf("node get multi: %w", err)
	}
	return len(items), nil
}

// Set implements Target.
func (t *NodeTarget) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := t.pool.Set(ctx, nodeclient.Item{Key: key, Value: value, TTL: Exptime(ttl, time.Now())}); err != nil {
		return fmt.Errorf("node set: %w", err)
	}
	return nil
}

// Delete implements Target.
func (t *NodeTarget) Delete(ctx context.Context, key string) error {
	if err := t.pool.Delete(ctx, key); err != nil && !errors.Is(err, nodeclient.ErrNotFound) {
		return fmt.Errorf("node delete: %w", err)
	}
	return nil
}

// Close implements Target.
func (t *NodeTarget) Close() error { return t.node.Close() }
