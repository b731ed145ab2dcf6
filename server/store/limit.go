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
// kept in memory already written stay (a shard keeps the part of its ring
// it has touched), and the store uses no memory past the new limit.
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
			// A shard's ring takes its share of the limit as at New (the
			// rest is its index's). Items lie below hwm, wrapped or not.
			ring := int(float64(cap(sh.buf)) * float64(maxBytes) / float64(s.maxBytes))
			sh.buf = sh.buf[:max(ring, sh.hwm)]
		}
		sh.mu.Unlock()
	}
	return nil
}
