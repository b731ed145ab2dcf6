package sharding

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (wrapped) by [New]; test them with errors.Is.
var (
	// ErrInvalidNode reports a node that cannot be placed: empty ID, weight
	// out of range, or (in the ketama modes) an address that does not parse.
	ErrInvalidNode = errors.New("sharding: invalid node")
	// ErrDuplicateNode reports two nodes with the same ID or, in the ketama
	// modes, the same point name.
	ErrDuplicateNode = errors.New("sharding: duplicate node")
	// ErrInvalidConfig reports an unusable [Config] or a ring that would be too
	// large.
	ErrInvalidConfig = errors.New("sharding: invalid config")
)

// HashMode selects how points and keys are hashed. The zero value is [HashXX].
type HashMode int

const (
	// HashXX hashes with xxhash64; fast, and the default.
	HashXX HashMode = iota
	// HashKetama hashes with MD5 exactly like libmemcached's weighted ketama
	// (and twemproxy).
	HashKetama
	// HashKetamaEVCache hashes with MD5 as EVCache's node locator does, as
	// we read its code (checked against our Java reimplementation of it,
	// not against EVCache itself).
	HashKetamaEVCache
)

// String returns "xxhash", "ketama" or "ketama-evcache".
func (m HashMode) String() string {
	switch m {
	case HashXX:
		return "xxhash"
	case HashKetama:
		return "ketama"
	case HashKetamaEVCache:
		return "ketama-evcache"
	}
	return fmt.Sprintf("HashMode(%d)", int(m))
}

// DefaultPointsPerNode is the number of points per unit of weight used when
// [Config].PointsPerNode is zero. It is libketama's 160.
const DefaultPointsPerNode = 160

// maxPoints bounds the size of a ring (points of all nodes together).
const maxPoints = 1 << 24

// Node is one member of a ring.
type Node struct {
	// ID identifies the node; it must be non-empty and unique in a ring. In
	// xxhash mode it is the only input to the node's points, so a node keeps
	// its keys when its address changes.
	ID string
	// Addr is the node's address, host:port. Only the ketama modes use it
	// (for the point name); otherwise it is carried for the caller.
	Addr string
	// Weight scales the node's share of the points. Zero means 1 (as in
	// libmemcached); negative is an error, and so is more than 1 in
	// HashKetamaEVCache mode. To take a node out of a ring, leave it out of
	// the node list.
	Weight int
	// KetamaName, if set, replaces the point-name prefix derived from Addr in
	// the ketama modes (points are MD5("<KetamaName>-<i>")): a twemproxy node
	// name, "hostname/ip:11211" for EVCache, or "[::1]:11212" to match a
	// libmemcached server list that keeps IPv6 brackets.
	KetamaName string
}

// Config tunes a ring. The zero value is valid: xxhash, 160 points per node,
// no hash tags.
type Config struct {
	// Mode selects the hash; default [HashXX].
	Mode HashMode
	// PointsPerNode is the number of points per unit of weight; default
	// [DefaultPointsPerNode] (160). In the ketama modes it must be a multiple
	// of 4 (one MD5 digest gives 4 points); libmemcached compatibility needs
	// 160, EVCache's is its bucket.size. A ring holds at most 2^24 points.
	PointsPerNode int
	// Probes is the number of positions a key is hashed to in xxhash mode
	// (multi-probe consistent hashing, which evens node loads). Default 2; 1
	// gives a classic ring; at most 4. The ketama modes allow only 1.
	Probes int
	// HashTagDelimiter, if not empty, makes lookups hash only the part of a
	// key before the first occurrence of the delimiter. Keys without the
	// delimiter, or that start with it, are hashed whole.
	HashTagDelimiter string
}

// pointsPerNode returns the configured points per unit of weight.
func (c Config) pointsPerNode() int {
	if c.PointsPerNode == 0 {
		return DefaultPointsPerNode
	}
	return c.PointsPerNode
}

// probes returns the configured number of probes per key.
func (c Config) probes() int {
	switch {
	case c.Probes != 0:
		return c.Probes
	case c.Mode != HashXX:
		return 1
	}
	return defaultProbes
}

// defaultProbes is the number of probes per key in xxhash mode.
const defaultProbes = 2

// maxProbes bounds Config.Probes.
const maxProbes = 4

// validate checks the configuration.
func (c Config) validate() error {
	switch c.Mode {
	case HashXX, HashKetama, HashKetamaEVCache:
	default:
		return fmt.Errorf("%w: unknown hash mode %d", ErrInvalidConfig, int(c.Mode))
	}
	p := c.pointsPerNode()
	if p < 1 || p > maxPoints {
		return fmt.Errorf("%w: points per node %d out of range 1..%d", ErrInvalidConfig, p, maxPoints)
	}
	if n := c.probes(); n < 1 || n > maxProbes || (c.Mode != HashXX && n != 1) {
		return fmt.Errorf("%w: %d probes in %s mode", ErrInvalidConfig, c.Probes, c.Mode)
	}
	if c.Mode != HashXX && p%4 != 0 {
		return fmt.Errorf("%w: ketama points per node %d is not a multiple of 4", ErrInvalidConfig, p)
	}
	return nil
}

// weight returns the node's effective weight (0 means 1).
func (n Node) weight() int {
	if n.Weight == 0 {
		return 1
	}
	return n.Weight
}
