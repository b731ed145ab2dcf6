package server

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
)

// prefixDelimiter ends the prefix of a key that "stats detail" counts by
// (memcached's -D default).
const prefixDelimiter = ':'

// prefixBuckets is memcached's PREFIX_HASH_SIZE: "stats detail dump" lists
// prefixes bucket by bucket, newest first within a bucket.
const prefixBuckets = 256

// prefixStats counts gets, hits, sets and deletes per key prefix while
// "stats detail on" is in force, as memcached's per-prefix stats do: text
// get, gets, gat and gats count each key, the text storage commands count
// a set and delete a delete; meta commands are not counted.
type prefixStats struct {
	on      atomic.Bool
	mu      sync.Mutex
	byName  map[string]*prefixCounts
	buckets [prefixBuckets][]*prefixCounts
}

type prefixCounts struct {
	name               string
	get, hit, set, del uint64
}

type prefixOp uint8

const (
	prefixGet prefixOp = iota
	prefixSet
	prefixDelete
)

// record counts op on key's prefix; keys without a delimiter are not
// counted.
func (p *prefixStats) record(key []byte, op prefixOp, hit bool) {
	i := bytes.IndexByte(key, prefixDelimiter)
	if i < 0 {
		return
	}
	name := key[:i]
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := p.byName[string(name)]
	if pc == nil {
		if p.byName == nil {
			p.byName = make(map[string]*prefixCounts)
		}
		pc = &prefixCounts{name: string(name)}
		p.byName[pc.name] = pc
		b := murmur3(name) % prefixBuckets
		p.buckets[b] = append(p.buckets[b], pc)
	}
	switch op {
	case prefixGet:
		pc.get++
		if hit {
			pc.hit++
		}
	case prefixSet:
		pc.set++
	case prefixDelete:
		pc.del++
	}
}

// dump appends memcached's "stats detail dump" reply.
func (p *prefixStats) dump(out []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, bucket := range p.buckets {
		for i := len(bucket) - 1; i >= 0; i-- {
			pc := bucket[i]
			out = append(out, "PREFIX "...)
			out = append(out, pc.name...)
			out = append(out, " get "...)
			out = strconv.AppendUint(out, pc.get, 10)
			out = append(out, " hit "...)
			out = strconv.AppendUint(out, pc.hit, 10)
			out = append(out, " set "...)
			out = strconv.AppendUint(out, pc.set, 10)
			out = append(out, " del "...)
			out = strconv.AppendUint(out, pc.del, 10)
			out = append(out, "\r\n"...)
		}
	}
	return append(out, "END\r\n"...)
}

// clear forgets every prefix, as "stats reset" does.
func (p *prefixStats) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byName = nil
	p.buckets = [prefixBuckets][]*prefixCounts{}
}

// murmur3 is MurmurHash3_x86_32 with seed 0, memcached's default hash,
// which orders its prefix table.
func murmur3(key []byte) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	var h uint32
	n := len(key)
	for len(key) >= 4 {
		k := binary.LittleEndian.Uint32(key)
		h ^= bits.RotateLeft32(k*c1, 15) * c2
		h = bits.RotateLeft32(h, 13)*5 + 0xe6546b64
		key = key[4:]
	}
	var k uint32
	switch len(key) {
	case 3:
		k ^= uint32(key[2]) << 16
		fallthrough
	case 2:
		k ^= uint32(key[1]) << 8
		fallthrough
	case 1:
		k ^= uint32(key[0])
		h ^= bits.RotateLeft32(k*c1, 15) * c2
	}
	h ^= uint32(n)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// detail serves "stats detail on|off|dump".
func (c *conn) detail(n int) {
	if n < 3 {
		c.str("CLIENT_ERROR usage: stats detail on|off|dump\r\n")
		return
	}
	switch string(c.toks[2]) {
	case "on", "off":
		c.s.prefixes.on.Store(string(c.toks[2]) == "on")
		c.str("OK\r\n")
	case "dump":
		c.out = c.s.prefixes.dump(c.out)
	default:
		c.str("CLIENT_ERROR usage: stats detail on|off|dump\r\n")
	}
}
