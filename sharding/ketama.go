package sharding

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
)

// ketamaKeyHash is the position of a (tagged) key in the ketama modes: the
// first four MD5 bytes, little-endian (libmemcached's hashkit MD5, and
// spymemcached's KETAMA_HASH).
func ketamaKeyHash(key []byte) uint32 {
	sum := md5.Sum(key)
	return binary.LittleEndian.Uint32(sum[:4])
}

// buildKetama returns the points of all nodes in one of the ketama modes.
func buildKetama(nodes []Node, mode HashMode, total uint64, per int) ([]point, error) {
	names := make([]string, len(nodes))
	seen := make(map[string]int, len(nodes))
	counts := make([]int, len(nodes))
	sum := 0
	for i, n := range nodes {
		var err error
		if mode == HashKetamaEVCache {
			names[i], err = evcacheName(n)
			counts[i] = per / 4 * 4
		} else {
			names[i], err = ketamaName(n)
			counts[i] = ketamaPointCount(uint64(n.weight()), total, len(nodes), per)
		}
		if err != nil {
			return nil, err
		}
		if j, dup := seen[names[i]]; dup {
			return nil, fmt.Errorf("%w: ketama name %q of %q and %q", ErrDuplicateNode, names[i], nodes[j].ID, n.ID)
		}
		seen[names[i]] = i
		sum += counts[i]
	}
	pts := make([]point, 0, sum)
	for i := range nodes {
		pts = ketamaPoints(pts, names[i], i, counts[i])
	}
	return pts, nil
}

// ketamaName returns the libmemcached point-name prefix of n: KetamaName if
// set, else "host" when the port is 11211, else "host:port" (the host string
// libmemcached was given). An Addr without a port is a host on port 11211,
// like libmemcached's default. An IPv6 host is named without brackets
// ("::1:11212"), as libmemcached names memcached_server_add(m, "::1",
// 11212); a server list parsed from a string ("[::1]:11212", as in
// memcached_servers_parse and the libmemcached tools' --servers) keeps the
// brackets, which KetamaName "[::1]:11212" ("[::1]" on port 11211) matches
// (testdata/ketama_ipv6*.txt check both).
func ketamaName(n Node) (string, error) {
	if n.KetamaName != "" {
		return n.KetamaName, nil
	}
	host, port, err := splitAddr(n)
	if err != nil {
		return "", err
	}
	if port == 11211 {
		return host, nil
	}
	// libmemcached prints the port with %u, so "h:011212" becomes "h:11212".
	return host + ":" + strconv.FormatUint(uint64(port), 10), nil
}

// evcacheName returns the EVCache point-name prefix of n: KetamaName if set,
// else "ip/ip:11211" for an IPv4 Addr, the form EVCache uses on VPC
// ("privateIp/privateIp:11211"; port 11211 whatever port the client uses).
// For a host name EVCache uses "hostname/resolved-ip:11211", which needs DNS,
// so KetamaName is required then; so it is when EVCache finds the node in
// Eureka with an "evcache.port" metadata entry, which replaces the 11211
// (EVCacheKetamaNodeLocatorConfiguration.getSocketAddressForNode).
func evcacheName(n Node) (string, error) {
	if n.KetamaName != "" {
		return n.KetamaName, nil
	}
	host, _, err := splitAddr(n)
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("%w: node %q: EVCache ketama derives names only from IPv4 addresses; set KetamaName", ErrInvalidNode, n.ID)
	}
	return host + "/" + host + ":11211", nil
}

// splitAddr splits n.Addr into host and port; a missing port or port 0 is
// 11211, as in libmemcached.
func splitAddr(n Node) (string, uint16, error) {
	if n.Addr == "" {
		return "", 0, fmt.Errorf("%w: node %q: ketama modes need Addr or KetamaName", ErrInvalidNode, n.ID)
	}
	host, port, err := net.SplitHostPort(n.Addr)
	if err != nil {
		if net.ParseIP(n.Addr) != nil || !strings.ContainsAny(n.Addr, ":[]") {
			return n.Addr, 11211, nil // bare host or IP, default port
		}
		return "", 0, fmt.Errorf("%w: node %q: address %q: %w", ErrInvalidNode, n.ID, n.Addr, err)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%w: node %q: address %q has no host", ErrInvalidNode, n.ID, n.Addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%w: node %q: address %q: bad port: %w", ErrInvalidNode, n.ID, n.Addr, err)
	}
	if p == 0 {
		p = 11211
	}
	return host, uint16(p), nil
}

// ketamaPointCount is libmemcached's weighted point count for one server:
// floor(pct*perWeight/4*live + 1e-10) * 4 with pct = weight/total, every step
// in float32 as in update_continuum (hosts.cc). Each conversion below is
// explicit so that no step is fused or computed at a higher precision. With
// equal weights float32 rounding gives 156 instead of 160 points for some
// server counts (25, 47, 50, 55, 61, 71, 94, 100, ...); libmemcached and
// twemproxy do the same, and the vectors check it.
func ketamaPointCount(weight, total uint64, live, perWeight int) int {
	pct := float32(weight) / float32(total)
	x := float32(pct * float32(perWeight))
	x = float32(x / 4)
	x = float32(x * float32(live))
	x = float32(x + float32(0.0000000001))
	return int(math.Floor(float64(x))) * 4
}

// ketamaPoints appends count points of the node with index idx: count/4 MD5
// digests of "<name>-<i>", four little-endian points from each.
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
