package store

import (
	"errors"
	"fmt"
)

// ErrLimitTooLarge means a memory limit asked of SetLimit is above what
// the store reserved at New (Config.MaxBytes).
var ErrLimitTooLarge = errors.New("store: limit above the reserved memory")

// SetLimit changes the memory limit at run time, as memcached's
// cache_memlimit: it may grow back up to Config.MaxBytes, the address space
// reserved at New. As in memcached, a lower limit releases nothing: items
// already written stay until eviction reaches them, and new writes stay
// within the new limit.
func (s *Store) SetLimit(maxBytes int64) error {
	if maxBytes <= 0 {
		return fmt.Errorf("%w: %d", ErrInvalidConfig, maxBytes)
	}
	if maxBytes > s.maxBytes {
		return fmt.Errorf("%w: %d bytes, reserved %d", ErrLimitTooLarge, maxBytes, s.maxBytes)
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if !sh.closed {
			// A shard takes its share of the limit as at New. Items
			// written past the new end stay until head reaches them.
			sh.limit = int(int64(len(sh.buf)) * maxBytes / s.maxBytes)
			sh.setEnd()
		}
		sh.mu.Unlock()
	}
	return nil
}
