package server

import (
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
)

// slabClass maps an item size to the slab class memcached would use with
// its defaults (smallest chunk 96 bytes, growth factor 1.25, 8-byte
// alignment, 512 KiB largest chunk). The store has no slabs; the number
// keeps me and metadump output in memcached's shape. As in memcached, the
// classes stop growing once a chunk reaches the largest chunk divided by
// the factor: that last class (lastSlabClass) takes chunks of 512 KiB
// and every larger item.
func slabClass(size int) int {
	chunk := 96
	for cls := 1; cls < 63; cls++ {
		if chunk*5 >= slabChunkMax*4 || size <= chunk {
			return cls
		}
		chunk = chunk * 5 / 4
		if r := chunk % 8; r != 0 {
			chunk += 8 - r
		}
	}
	return 63
}

// slabChunkMax is memcached's largest slab chunk (slab_chunk_max).
const slabChunkMax = 512 << 10

// lastSlabClass is memcached's power_largest with its defaults: the class
// slabClass gives the largest items.
const lastSlabClass = 39

// uriUnreserved reports the bytes memcached leaves unescaped in metadump keys.
func uriUnreserved(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '-' || b == '.' || b == '_' || b == '~'
}

const hexDigits = "0123456789ABCDEF"

// maxCachedump bounds the reply to stats cachedump, as memcached's 2 MB.
const maxCachedump = 2 << 20

// lruCrawler serves the lru_crawler family. The store reclaims expired
// items by itself, so crawl, sleep and tocrawl are accepted; metadump lists
// live items. enable and disable only switch whether crawl and metadump
// are answered, as memcached does with its crawler thread.
func (c *conn) lruCrawler(n int) {
	if n == 3 {
		switch string(c.toks[1]) {
		case "metadump", "crawl":
			if c.s.crawlerOff.Load() {
				c.str("CLIENT_ERROR lru crawler disabled\r\n")
				return
			}
			if string(c.toks[1]) == "metadump" {
				c.metadump(c.toks[2])
			} else {
				c.str("OK\r\n")
			}
			return
		case "tocrawl", "sleep":
			v, ok := protocol.ParseArgUint32(c.toks[2])
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
		case "enable":
			if !c.s.crawlerOff.CompareAndSwap(true, false) {
				c.str("ERROR failed to start lru crawler thread\r\n")
				return
			}
			c.str("OK\r\n")
			return
		case "disable":
			c.s.crawlerOff.Store(true)
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
	classes, all, ok := parseClasses(which)
	if !ok {
		c.str("BADCLASS invalid class id\r\n")
		return
	}
	c.leaveLoop() // a dump takes a while, and waits for slow readers
	failed := false
	c.s.store.Scan(func(key []byte, m store.Meta, size int) {
		if cls := slabClass(size); all || classes[cls] {
			c.appendDumpLine(key, &m, cls, size)
		}
	}, func() bool {
		failed = !c.flushScanned()
		return !failed
	})
	if failed {
		c.quit = true
		return
	}
	c.str("END\r\n")
}

// parseClasses reads metadump's argument: "all", "hash" or a
// comma-separated list of slab classes. ok is false for a bad class.
func parseClasses(which []byte) (classes [64]bool, all, ok bool) {
	if string(which) == "all" || string(which) == "hash" {
		return classes, true, true
	}
	rest := which
	for len(rest) > 0 {
		i := 0
		for i < len(rest) && rest[i] != ',' {
			i++
		}
		v, ok := protocol.ParseArgUint32(rest[:i])
		if !ok || v == 0 || v >= 64 {
			return classes, false, false
		}
		classes[v] = true
		if i < len(rest) {
			i++
		}
		rest = rest[i:]
	}
	return classes, false, true
}

// appendDumpLine writes one metadump line.
func (c *conn) appendDumpLine(key []byte, m *store.Meta, cls, size int) {
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
}

// flushScanned writes the lines a store Scan listed once flushThreshold
// bytes are waiting; no store lock is held, so a slow reader delays only
// its own dump. It reports false if the write failed.
func (c *conn) flushScanned() bool {
	if len(c.out) < flushThreshold {
		return true
	}
	return c.flush() == nil
}

// cachedump serves "stats cachedump <class> <limit>": one line per live
// item of the class, "ITEM <key> [<value bytes> b; <expiry, 0 = never> s]",
// at most limit of them (0: all) and at most maxCachedump bytes, then END.
// memcached lists only the items of its class's cold LRU, which it fills
// over time; the store has no such segment and lists every item of the
// class.
func (c *conn) cachedump(n int) {
	if n < 4 {
		c.str("CLIENT_ERROR bad command line\r\n")
		return
	}
	cls, ok1 := protocol.ParseArgUint32(c.toks[2])
	limit, ok2 := protocol.ParseArgUint32(c.toks[3])
	switch {
	case !ok1 || !ok2:
		c.str("CLIENT_ERROR bad command line format\r\n")
		return
	case cls >= 64:
		c.str("CLIENT_ERROR Illegal slab id\r\n")
		return
	}
	total, shown, done, failed := 0, uint32(0), false, false
	c.s.store.Scan(func(key []byte, m store.Meta, size int) {
		if done || slabClass(size) != int(cls) {
			return
		}
		line := len(c.out)
		c.str("ITEM ")
		c.out = append(c.out, key...)
		c.str(" [")
		c.out = strconv.AppendInt(c.out, int64(size-store.ItemSize(len(key), 0)), 10)
		c.str(" b; ")
		c.out = strconv.AppendInt(c.out, m.Expires, 10)
		c.str(" s]\r\n")
		if total += len(c.out) - line; total > maxCachedump {
			c.out = c.out[:line]
			done = true
			return
		}
		shown++
		done = limit != 0 && shown >= limit
	}, func() bool {
		failed = !c.flushScanned()
		return !failed && !done
	})
	if failed {
		c.quit = true
		return
	}
	c.str("END\r\n")
}
