package sharding

import (
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// point is one position on the circle and the index of the node that owns it.
type point struct {
	pos   uint32
	owner uint32
}

// xxPoints appends the points of node n (index idx) in xxhash mode:
// perWeight*weight points at xxhash64("<ID>-<i>")>>32.
func xxPoints(dst []point, n Node, idx, perWeight int) []point {
	buf := make([]byte, 0, len(n.ID)+12)
	buf = append(buf, n.ID...)
	buf = append(buf, '-')
	prefix := len(buf)
	count := perWeight * n.weight()
	for i := range count {
		buf = strconv.AppendInt(buf[:prefix], int64(i), 10)
		dst = append(dst, point{pos: uint32(xxhash.Sum64(buf) >> 32), owner: uint32(idx)})
	}
	return dst
}
