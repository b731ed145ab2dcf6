package server

import (
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
)

// delete serves delete <key> [0] [noreply].
func (c *conn) delete(n int) {
	if n < 2 || n > 4 {
		c.str("ERROR\r\n")
		return
	}
	noreply := false
	if n > 2 {
		holdZero := string(c.toks[2]) == "0"
		noreply = c.noreply(n)
		valid := (n == 3 && (holdZero || noreply)) || (n == 4 && holdZero && noreply)
		if !valid {
			c.reply(noreply, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n")
			return
		}
	}
	key := c.toks[1]
	if len(key) > protocol.MaxKeyLength {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
	}
	if c.s.prefixes.on.Load() {
		c.s.prefixes.record(key, prefixDelete, false)
	}
	found := false
	_, _ = c.s.store.Update(key, func(e *store.Entry) store.Op {
		if !e.Found {
			return store.Op{Action: store.Keep}
		}
		found = true
		return store.Op{Action: store.Delete}
	})
	if found {
		c.count(stDeleteHits)
		c.reply(noreply, "DELETED\r\n")
	} else {
		c.count(stDeleteMisses)
		c.reply(noreply, "NOT_FOUND\r\n")
	}
}

// keyArgCommand starts a command of the form <cmd> <key> <arg> [noreply]
// (incr, decr, touch): it checks the number of tokens and the key length.
// When the command ends there it writes the error and reports false.
func (c *conn) keyArgCommand(n int) (key []byte, noreply, ok bool) {
	if n != 3 && n != 4 {
		c.str("ERROR\r\n")
		return nil, false, false
	}
	noreply = c.noreply(n)
	key = c.toks[1]
	if len(key) > protocol.MaxKeyLength {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return nil, noreply, false
	}
	return key, noreply, true
}

// touch serves touch <key> <exptime> [noreply].
func (c *conn) touch(n int) {
	key, noreply, ok := c.keyArgCommand(n)
	if !ok {
		return
	}
	exptime, ok := protocol.ParseArgInt32(c.toks[2])
	if !ok {
		c.reply(noreply, "CLIENT_ERROR invalid exptime argument\r\n")
		return
	}
	now := c.now().Unix()
	exp := protocol.AbsoluteExpiry(exptime, now)
	c.count(stCmdTouch)
	hit := false
	_, _ = c.s.store.Update(key, func(e *store.Entry) store.Op {
		c.blind(e)
		if !e.Found {
			return store.Op{Action: store.Keep}
		}
		hit = true
		m := e.Meta
		m.Expires, m.Accessed, m.Fetched = exp, now, true
		return store.Op{Action: store.SetMeta, Meta: m}
	})
	if hit {
		c.count(stTouchHits)
		c.reply(noreply, "TOUCHED\r\n")
	} else {
		c.count(stTouchMisses)
		c.reply(noreply, "NOT_FOUND\r\n")
	}
}

// flushAll serves flush_all [delay] [noreply].
func (c *conn) flushAll(n int) {
	if n < 1 || n > 3 {
		c.str("ERROR\r\n")
		return
	}
	c.leaveLoop() // shrinking the store may evict for a while
	noreply := c.noreply(n)
	c.count(stCmdFlush)
	if c.s.cfg.DisableFlushAll {
		c.reply(noreply, "CLIENT_ERROR flush_all not allowed\r\n")
		return
	}
	var delay int32
	want := 1
	if noreply {
		want = 2
	}
	if n != want {
		d, ok := protocol.ParseArgInt32(c.toks[1])
		if !ok {
			c.reply(noreply, "CLIENT_ERROR invalid exptime argument\r\n")
			return
		}
		delay = d
	}
	now := c.now()
	at := now
	if delay > 0 {
		at = time.Unix(protocol.AbsoluteExpiry(delay, now.Unix()), 0)
	}
	c.s.store.Flush(at)
	c.reply(noreply, "OK\r\n")
}

// verbosity accepts and ignores a level; logging is set by flags.
func (c *conn) verbosity(n int) {
	if n != 2 && n != 3 {
		c.str("ERROR\r\n")
		return
	}
	noreply := c.noreply(n)
	if _, ok := protocol.ParseArgUint32(c.toks[1]); !ok {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
	}
	c.reply(noreply, "OK\r\n")
}

// memlimit serves cache_memlimit <megabytes>: the store's limit changes
// at run time, up to the MaxBytes it was started with (store.SetLimit); a
// lower limit keeps what the store holds, as memcached does.
func (c *conn) memlimit(n int) {
	if n != 2 && n != 3 {
		c.str("ERROR\r\n")
		return
	}
	noreply := c.noreply(n)
	mb, ok := protocol.ParseArgUint32(c.toks[1])
	switch {
	case !ok:
		c.reply(noreply, "ERROR\r\n")
	case mb < 8:
		c.reply(noreply, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n")
	case mb > 1_000_000_000:
		c.reply(noreply, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n")
	case c.s.store.SetLimit(int64(mb)<<20) != nil:
		c.reply(noreply, "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n")
	default:
		c.s.memLimit.Store(int64(mb) << 20)
		c.reply(noreply, "OK\r\n")
	}
}

// statsCmd serves the stats family.
func (c *conn) statsCmd(n int) {
	if n == 1 {
		c.generalStats()
		return
	}
	switch string(c.toks[1]) {
	case "reset":
		c.mergeStats()
		c.s.stats.reset(c.s.store)
		c.s.prefixes.clear()
		c.str("RESET\r\n")
	case "detail":
		c.detail(n)
	case "settings":
		c.settingsStats()
	case "items":
		c.itemsStats()
	case "slabs":
		c.slabsStats()
	case "sizes":
		c.str("STAT sizes_status disabled\r\nEND\r\n")
	case "conns":
		c.connsStats()
	case "cachedump":
		c.cachedump(n)
	default:
		c.str("ERROR\r\n")
	}
}
