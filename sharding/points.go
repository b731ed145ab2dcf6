package sharding

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// ketamaDefaultPort is the port that libmemcached leaves out of point names.
const ketamaDefaultPort = "11211"

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

// ketamaKeyHash is the position of a (tagged) key in ketama mode: the first
// four MD5 bytes, little-endian.
func ketamaKeyHash(key []byte) uint32 {
	sum := md5.Sum(key)
	return binary.LittleEndian.Uint32(sum[:4])
}

// ketamaName returns the point-name prefix of n: KetamaName if set, else
// "host" when the port is 11211, else "host:port". An Addr without a port is
// taken as a host on port 11211, like libmemcached's default.
func ketamaName(n Node) (string, error) {
	if n.KetamaName != "" {
		return n.KetamaName, nil
	}
	if n.Addr == "" {
		return "", fmt.Errorf("%w: node %q: ketama mode needs Addr or KetamaName", ErrInvalidNode, n.ID)
	}
	host, port, err := net.SplitHostPort(n.Addr)
	if err != nil {
		if net.ParseIP(n.Addr) != nil || !containsByte(n.Addr, ':') {
			return n.Addr, nil // bare host or IP, default port
		}
		return "", fmt.Errorf("%w: node %q: address %q: %w", ErrInvalidNode, n.ID, n.Addr, err)
	}
	if host == "" {
		return "", fmt.Errorf("%w: node %q: address %q has no host", ErrInvalidNode, n.ID, n.Addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("%w: node %q: address %q: bad port: %w", ErrInvalidNode, n.ID, n.Addr, err)
	}
	if p == 11211 || p == 0 { // libmemcached replaces port 0 by 11211
		return host, nil
	}
	// libmemcached prints the port with %u, so "011212" becomes "11212".
	return host + ":" + strconv.FormatUint(p, 10), nil
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// ketamaPointCount is libmemcached's weighted point count for one server:
// floor(pct*perWeight/4*live + 1e-10) * 4 with pct = weight/total, every step
// in float32 as in update_continuum (hosts.cc). Each conversion below is
// explicit so that no step is fused or computed at a higher precision.
func ketamaPointCount(weight, total uint64, live, perWeight int) int {
	pct := float32(weight) / float32(total)
	x := float32(pct * float32(perWeight))
	x = float32(x / 4)
	x = float32(x * float32(live))
	x = float32(x + float32(0.0000000001))
	return int(math.Floor(float64(x))) * 4
}

// ketamaPoints appends the points of node n (index idx) in ketama mode: count/4
// MD5 digests of "<name>-<i>", four little-endian points from each.
func ketamaPoints(dst []point, name string, idx, count int) []point {
	buf := make([]byte, 0, len(name)+12)
	buf = append(buf, name...)
	buf = append(buf, '-')
	prefix := len(buf)
	for i := range count / 4 {
		buf = strconv.AppendInt(buf[:prefix], int64(i), 10)
		sum := md5.Sum(buf)
		for j := range 4 {
			dst = append(dst, point{pos: binary.LittleEndian.Uint32(sum[4*j:]), owner: uint32(idx)})
		}
	}
	return dst
}
