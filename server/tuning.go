package server

import (
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
)

// slabs answers "slabs automove" and "slabs reassign" as memcached 1.6.18
// does with its default settings. The store has no slab pages to move, so
// automove settings are accepted and a valid reassign finds no spare page.
func (c *conn) slabs(n int) {
	switch {
	case n == 4 && string(c.toks[1]) == "reassign":
		c.slabsReassign()
	case n >= 3 && string(c.toks[1]) == "automove":
		c.slabsAutomove(n)
	default:
		c.str("ERROR\r\n")
	}
}

// slabsReassign answers "slabs reassign <src> <dst>".
func (c *conn) slabsReassign() {
	src, ok1 := parseSigned(c.toks[2])
	dst, ok2 := parseSigned(c.toks[3])
	switch {
	case !ok1 || !ok2:
		c.str("CLIENT_ERROR bad command line format\r\n")
	case src == dst:
		c.str("SAME src and dst class are identical\r\n")
	case src < 0 || src > int64(lastSlabClass) || dst < 0 || dst > int64(lastSlabClass):
		c.str("BADCLASS invalid src or dst class id\r\n")
	default:
		c.str("NOSPARE source class has no spare pages\r\n")
	}
}

// slabsAutomove answers "slabs automove <0|1|2>" and "slabs automove ratio <r>".
func (c *conn) slabsAutomove(n int) {
	noreply := c.noreply(n)
	if string(c.toks[2]) == "ratio" {
		if n < 4 || !isFloat(c.toks[3]) {
			c.reply(noreply, "ERROR\r\n")
			return
		}
		c.reply(noreply, "OK\r\n")
		return
	}
	level, ok := protocol.ParseArgUint32(c.toks[2])
	switch {
	case !ok:
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
	case level > 2:
		c.reply(noreply, "ERROR\r\n")
	default:
		c.reply(noreply, "OK\r\n")
	}
}

// lru answers "lru tune", "lru mode" and "lru temp_ttl" as memcached
// 1.6.18 does: the arguments are checked and accepted; the store's CLOCK
// eviction has no segments to tune.
func (c *conn) lru(n int) {
	noreply := c.noreply(n)
	if n < 2 {
		c.reply(noreply, "ERROR\r\n")
		return
	}
	switch sub := string(c.toks[1]); {
	case sub == "tune" && n >= 6:
		c.lruTune(noreply)
	case sub == "mode" && n >= 3:
		switch string(c.toks[2]) {
		case "flat", "segmented":
			c.reply(noreply, "OK\r\n")
		default:
			c.reply(noreply, "ERROR\r\n")
		}
	case sub == "temp_ttl" && n >= 3:
		if _, ok := parseSigned(c.toks[2]); !ok {
			c.reply(noreply, "ERROR\r\n")
			return
		}
		c.reply(noreply, "OK\r\n")
	default:
		c.reply(noreply, "ERROR\r\n")
	}
}

// lruTune answers "lru tune <hot pct> <warm pct> <hot factor> <warm factor>".
func (c *conn) lruTune(noreply bool) {
	hot, ok1 := protocol.ParseArgUint32(c.toks[2])
	warm, ok2 := protocol.ParseArgUint32(c.toks[3])
	hotFactor, err3 := strconv.ParseFloat(string(c.toks[4]), 64)
	factor, err4 := strconv.ParseFloat(string(c.toks[5]), 64)
	ok3, ok4 := err3 == nil, err4 == nil
	switch {
	case !ok1 || !ok2 || !ok3 || !ok4:
		c.reply(noreply, "ERROR\r\n")
	case uint64(hot)+uint64(warm) > 80:
		c.reply(noreply, "ERROR hot and warm pcts must not exceed 80\r\n")
	case factor <= 0 || hotFactor <= 0:
		c.reply(noreply, "ERROR hot/warm age factors must be greater than 0\r\n")
	default:
		c.reply(noreply, "OK\r\n")
	}
}

// parseSigned reads a decimal integer with an optional minus sign, as
// memcached's safe_strtol.
func parseSigned(s []byte) (int64, bool) {
	v, err := strconv.ParseInt(string(s), 10, 32)
	return v, err == nil
}

// isFloat reports whether s is a number, as memcached's safe_strtod.
func isFloat(s []byte) bool {
	_, err := strconv.ParseFloat(string(s), 64)
	return err == nil
}
