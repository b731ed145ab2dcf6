package store

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for zero Config fields.
const (
	// DefaultMaxBytes is the default memory limit, as memcached's -m 64.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxItemSize is the default item size limit, as memcached's -I 1m.
	DefaultMaxItemSize = 1 << 20
	// DefaultSweepInterval is how often the background sweeper looks for
	// expired items.
	DefaultSweepInterval = time.Second
	// MaxKeyLength is the longest key the store accepts, in bytes.
	MaxKeyLength = 250
)

const (
	minItemSize = 1024      // memcached refuses -I below 1 KiB
	maxItemSize = 1 << 30   // and above 1 GiB
	maxValueLen = 1<<30 + 1 // lengths are stored in 32 bits
	maxShards   = 256
	maxShardMem = 1 << 31 // ring offsets are 32-bit
	// indexShare is the fraction (1/indexShare) of a shard's budget its
	// index may grow to; the ring gets the rest.
	indexShare = 8
	// minItemsPerShard is how many items of the largest size a shard's
	// budget holds at least. A shard's ring wastes up to one item's space
	// (items do not span its end), so with 16 large items per shard the
	// store keeps within about 1/16 of what the memory could hold.
	minItemsPerShard = 16
)

// ErrInvalidConfig is returned by New for a Config it cannot honour.
var ErrInvalidConfig = errors.New("store: invalid config")

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("store: closed")

// withDefaults fills zero fields and validates the result.
func (c Config) withDefaults() (Config, error) {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxItemSize == 0 {
		c.MaxItemSize = DefaultMaxItemSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	switch {
	case c.MaxBytes < 0:
		return c, fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidConfig, c.MaxBytes)
	case c.MaxItemSize < minItemSize || c.MaxItemSize > maxItemSize:
		return c, fmt.Errorf("%w: MaxItemSize %d outside [%d, %d]", ErrInvalidConfig, c.MaxItemSize, minItemSize, maxItemSize)
	case int64(c.MaxItemSize) > c.MaxBytes/2:
		return c, fmt.Errorf("%w: MaxItemSize %d is more than half of MaxBytes %d", ErrInvalidConfig, c.MaxItemSize, c.MaxBytes)
	}
	return c, nil
}

// shardCount picks a power of two: as many shards as possible (up to
// maxShards, more if a shard would pass 2 GiB) while each shard can hold at
// least minItemsPerShard items of the largest size.
func shardCount(maxBytes int64, maxItem int) int {
	n := maxShards
	for n > 1 && maxBytes/int64(n) < minItemsPerShard*int64(maxItem) {
		n /= 2
	}
	for maxBytes/int64(n) > maxShardMem {
		n *= 2
	}
	return n
}

// layout splits maxBytes into n shards of budget bytes, each with an index
// of at most maxGroups groups; the ring takes what the index does not.
func layout(maxBytes int64, maxItem int) (n, maxGroups, budget int) {
	n = shardCount(maxBytes, maxItem)
	budget = int(maxBytes / int64(n))
	maxGroups = max(1, budget/indexShare/bytesPerGroup)
	return n, maxGroups, budget
}

// IndexLimit is the most memory the hash indexes of a Store with these
// limits can take: part of MaxBytes, but on the Go heap (unlike the item
// rings), where a replaced index may linger until collected.
func IndexLimit(maxBytes int64, maxItemSize int) int64 {
	n, maxGroups, _ := layout(maxBytes, maxItemSize)
	return int64(n) * int64(maxGroups) * bytesPerGroup
}
