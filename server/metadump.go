package server

import (
	"strconv"
	"time"

	"github.com/zonecache/zonecache/server/store"
)

// slabClass maps an item size to the slab class memcached would use with
// its defaults (smallest chunk 96 bytes, growth factor 1.25, 8-byte
// alignment, 512 KiB largest chunk). The store has no slabs; the number
// keeps me and metadump output in memcached's shape.
func slabClass(size int) int {
	chunk := 96
	for cls := 1; cls < 63; cls++ {
		if size <= chunk || chunk >= 512<<10 {
			return cls
		}
		chunk = chunk * 5 / 4
		if r := chunk % 8; r != 0 {
			chunk += 8 - r
		}
	}
	return 63
}

// uriUnreserved reports the bytes memcached leaves unescaped in metadump keys.
func uriUnreserved(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '-' || b == '.' || b == '_' || b == '~'
}

const hexDigits = "0123456789ABCDEF"

// metadumpWriteTimeout bounds each write of a metadump, which happens while
// the store holds a shard lock; a client slower than that is disconnected.
const metadumpWriteTimeout = time.Second

// lruCrawler serves the lru_crawler family. The store reclaims expired
// items by itself, so crawl, enable, disable, sleep and tocrawl are
// accepted; metadump lists live items.
func (c *conn) lruCrawler(n int) {
	if n == 3 {
		switch string(c.toks[1]) {
		case "metadump":
			c.metadump(c.toks[2])
			return
		case "crawl":
			c.str("OK\r\n")
			return
		case "tocrawl", "sleep":
			v, ok := parseUint32(c.toks[2])
			switch {
			case !ok:
				c.str("CLIENT_ERROR bad command line format\r\n")
			case string(c.toks[1]) == "sleep" && v > 1000000:
				c.str("CLIENT_ERROR sleep must be one second or less\r\n")
			default:
				c.str("OK\r\n")
			}
			return
		}
	}
	if n == 2 {
		switch string(c.toks[1]) {
		case "enable", "disable":
			c.str("OK\r\n")
			return
		}
	}
	c.str("ERROR\r\n")
}

// metadump writes one line per live item in memcached's format:
// key=<uri-escaped> exp=<unix|-1> la=<unix> cas=<n> fetch=<yes|no> cls=<n> size=<n>
// then END. Which is "all", "hash" or a comma-separated list of classes.
func (c *conn) metadump(which []byte) {
	if len(c.out) > 0 {
		c.str("ERROR cannot pipeline other commands before metadump\r\n")
		return
	}
	var classes [64]bool
	all := string(which) == "all" || string(which) == "hash"
	if !all {
		rest := which
		for len(rest) > 0 {
			i := 0
			for i < len(rest) && rest[i] != ',' {
				i++
			}
			v, ok := parseUint32(rest[:i])
			if !ok || v == 0 || v >= 64 {
				c.str("BADCLASS invalid class id\r\n")
				return
			}
			classes[v] = true
			if i < len(rest) {
				i++
			}
			rest = rest[i:]
		}
	}
	failed := false
	c.s.store.Range(func(key []byte, m store.Meta, size int) bool {
		cls := slabClass(size)
		if !all && !classes[cls] {
			return true
		}
		c.str("key=")
		for _, b := range key {
			if uriUnreserved(b) {
				c.out = append(c.out, b)
			} else {
				c.out = append(c.out, '%', hexDigits[b>>4], hexDigits[b&15])
			}
		}
		c.str(" exp=")
		if m.Expires == 0 {
			c.str("-1")
		} else {
			c.out = strconv.AppendInt(c.out, m.Expires, 10)
		}
		c.str(" la=")
		c.out = strconv.AppendInt(c.out, m.Accessed, 10)
		c.str(" cas=")
		c.out = strconv.AppendUint(c.out, m.CAS, 10)
		if m.Fetched {
			c.str(" fetch=yes")
		} else {
			c.str(" fetch=no")
		}
		c.str(" cls=")
		c.out = strconv.AppendInt(c.out, int64(cls), 10)
		c.str(" size=")
		c.out = strconv.AppendInt(c.out, int64(size), 10)
		c.out = append(c.out, '\n')
		if len(c.out) >= flushThreshold {
			// The store's shard lock is held here: a client that does
			// not read its dump must not stall that shard for long.
			_ = c.nc.SetWriteDeadline(time.Now().Add(metadumpWriteTimeout))
			if c.flush() != nil {
				failed = true
				return false
			}
		}
		return true
	})
	_ = c.nc.SetWriteDeadline(time.Time{})
	if failed {
		c.quit = true
		return
	}
	c.str("END\r\n")
}
