package server

import (
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
)

// metaDelete serves md: parse, apply, reply.
func (c *conn) metaDelete(n int) {
	var f protocol.MetaFlags
	if _, ok := c.metaHead(n, &f, "CLIENT_ERROR options flags too long", "CLIENT_ERROR invalid or duplicate flag"); !ok {
		return
	}
	if f.LongOpaque {
		c.errLine("CLIENT_ERROR opaque token too long")
		return
	}
	code := "NF"
	_, _ = c.s.store.Update(f.Key, func(e *store.Entry) store.Op {
		var op store.Op
		code, op = c.applyMetaDelete(&f, e)
		return op
	})
	c.parts[0] = nil
	if code == "HD" {
		c.count(stDeleteHits)
		if f.NoReply {
			return
		}
	} else {
		c.count(stDeleteMisses)
	}
	c.str(code)
	c.appendOpaqueAndKey(&f, 2, n)
	c.str("\r\n")
}

// applyMetaDelete is md's store operation and its reply code: delete, or
// with I or x mark the item stale or drop its value in place.
func (c *conn) applyMetaDelete(f *protocol.MetaFlags, e *store.Entry) (code string, op store.Op) {
	if !e.Found {
		return "NF", store.Op{Action: store.Keep}
	}
	if f.HasCAS && f.CAS != e.Meta.CAS {
		return "EX", store.Op{Action: store.Keep, NoBump: true}
	}
	if !f.Invalidate && !f.DropValue {
		return "HD", store.Op{Action: store.Delete}
	}
	m := e.Meta
	m.CAS = f.SetCAS
	if f.HasTTL {
		m.Expires = f.Expires
	}
	if f.Invalidate {
		// Stale: the next reader wins the right to recache.
		m.Stale, m.WinSent = true, false
	}
	if !f.DropValue {
		// Marked in place, as memcached does: the value, the last
		// access time and the fetched bit are kept.
		return "HD", store.Op{Action: store.SetMeta, Meta: m}
	}
	c.parts[0] = nil
	m.Flags = 0
	return "HD", store.Op{Action: store.Put, Meta: m, Value: c.parts[:1]}
}

// metaHead starts mg, md and ma: it checks the key and the number of
// tokens, then parses the flags after the key into f. When the command ends
// there it writes the error and reports false: tooLong for too many tokens,
// flagErr for a bad flag (the parser's own message when flagErr is "").
func (c *conn) metaHead(n int, f *protocol.MetaFlags, tooLong, flagErr string) (now int64, ok bool) {
	if n < 2 {
		c.str("ERROR\r\n")
		return 0, false
	}
	if len(c.toks[1]) > protocol.MaxKeyLength {
		c.errLine("CLIENT_ERROR bad command line format")
		return 0, false
	}
	if n+1 > protocol.MaxMetaTokens {
		c.errLine(tooLong)
		return 0, false
	}
	now = c.now().Unix()
	if err := f.Parse(c.toks[1], c.toks[2:n], now, c.keybuf); err != nil {
		e := err.Error()
		if flagErr != "" {
			e = flagErr
		}
		c.errLine(e)
		return 0, false
	}
	return now, true
}

// metaDebug serves me <key> [b].
func (c *conn) metaDebug(n int) {
	if n < 2 || len(c.toks[1]) > protocol.MaxKeyLength {
		c.errLine("CLIENT_ERROR bad command line format")
		return
	}
	key := c.toks[1]
	if n >= 3 && string(c.toks[2]) == "b" {
		dec, ok := protocol.DecodeKey(c.keybuf, key)
		if !ok {
			c.errLine("CLIENT_ERROR bad command line format")
			return
		}
		key = dec
	}
	now := c.now().Unix()
	found := false
	_, _ = c.s.store.Update(key, func(e *store.Entry) store.Op {
		c.blind(e)
		if !e.Found {
			return store.Op{Action: store.Keep, NoBump: true}
		}
		found = true
		c.appendDebugLine(key, e, now)
		return store.Op{Action: store.Keep, NoBump: true}
	})
	if !found {
		c.str("EN\r\n")
	}
}

// appendDebugLine writes me's reply for the item e.
func (c *conn) appendDebugLine(key []byte, e *store.Entry, now int64) {
	c.str("ME ")
	// memcached prints the key as the item was stored: base64 when it
	// was set with b, whether or not this me has b.
	c.appendKey(key, e.Meta.KeyBinary)
	c.str(" exp=")
	if e.Meta.Expires == 0 {
		c.str("-1")
	} else {
		// memcached 1.6 prints now minus the expiry time.
		c.out = strconv.AppendInt(c.out, now-e.Meta.Expires, 10)
	}
	c.str(" la=")
	c.out = strconv.AppendInt(c.out, now-e.Meta.Accessed, 10)
	c.str(" cas=")
	c.out = strconv.AppendUint(c.out, e.Meta.CAS, 10)
	if e.Meta.Fetched {
		c.str(" fetch=yes")
	} else {
		c.str(" fetch=no")
	}
	size := store.ItemSize(len(key), len(e.Value))
	c.str(" cls=")
	c.out = strconv.AppendInt(c.out, int64(slabClass(size)), 10)
	c.str(" size=")
	c.out = strconv.AppendInt(c.out, int64(size), 10)
	c.str("\r\n")
}
