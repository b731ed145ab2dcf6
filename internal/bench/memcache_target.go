package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/zonecache/zonecache/internal/protocol"
)

// DefaultOpTimeout is the default per-operation timeout of a run and of
// MemcacheTarget's socket deadlines.
const DefaultOpTimeout = time.Second

// MemcacheTarget is one or several memcached-protocol nodes through
// github.com/bradfitz/gomemcache, the client Go users would use instead of
// zonecache: the baseline. gomemcache takes no context, so deadlines come
// from its socket Timeout.
type MemcacheTarget struct {
	c *memcache.Client
}

// NewMemcacheTarget returns a Target for the node at addr (host:port). To
// be fair to gomemcache, maxIdleConns should be the run's concurrency (its
// default of 2 makes bursts dial and close connections); timeout ≤ 0 means
// DefaultOpTimeout.
func NewMemcacheTarget(addr string, maxIdleConns int, timeout time.Duration) *MemcacheTarget {
	return NewMemcacheClusterTarget([]string{addr}, maxIdleConns, timeout)
}

// NewMemcacheClusterTarget is NewMemcacheTarget over several nodes, which
// gomemcache shards by crc32(key) mod len(addrs): the unreplicated baseline
// for a fleet. maxIdleConns is per node.
func NewMemcacheClusterTarget(addrs []string, maxIdleConns int, timeout time.Duration) *MemcacheTarget {
	c := memcache.New(addrs...)
	c.MaxIdleConns = max(maxIdleConns, 1)
	if timeout <= 0 {
		timeout = DefaultOpTimeout
	}
	c.Timeout = timeout
	return &MemcacheTarget{c: c}
}

// UseTLS makes the target's new connections TLS with cfg.
func (m *MemcacheTarget) UseTLS(cfg *tls.Config) {
	d := tls.Dialer{Config: cfg}
	m.c.DialContext = d.DialContext
}

// Get implements Target.
func (m *MemcacheTarget) Get(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, err := m.c.Get(key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, memcache.ErrCacheMiss):
		return false, nil
	default:
		return false, fmt.Errorf("memcache get: %w", err)
	}
}

// GetMulti implements Target.
func (m *MemcacheTarget) GetMulti(ctx context.Context, keys []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	items, err := m.c.GetMulti(keys)
	if err != nil {
		return len(items), fmt.Errorf("memcache get multi: %w", err)
	}
	return len(items), nil
}

// Set implements Target.
func (m *MemcacheTarget) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.c.Set(&memcache.Item{Key: key, Value: value, Expiration: Exptime(ttl, time.Now())}); err != nil {
		return fmt.Errorf("memcache set: %w", err)
	}
	return nil
}

// Delete implements Target.
func (m *MemcacheTarget) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.c.Delete(key); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return fmt.Errorf("memcache delete: %w", err)
	}
	return nil
}

// Close implements Target.
func (m *MemcacheTarget) Close() error { return m.c.Close() }

// Exptime converts ttl to a memcached exptime (protocol.Exptime).
func Exptime(ttl time.Duration, now time.Time) int32 { return protocol.Exptime(ttl, now) }
