package server

import (
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/store"
)

// metaGet serves mg.
func (c *conn) metaGet(n int) {
	var f protocol.MetaFlags
	now, ok := c.metaHead(n, &f, "CLIENT_ERROR options flags are too long", "")
	if !ok {
		return
	}
	if f.LongOpaque {
		c.errLine("CLIENT_ERROR opaque token too long")
		return
	}
	hit, created, ttlSet, room := false, false, false, true
	meta, err := c.s.store.Update(f.Key, func(e *store.Entry) store.Op {
		c.blind(e)
		if !e.Found {
			if !f.Vivify {
				return store.Op{Action: store.Keep}
			}
			created = true
			var exp int64
			for i := 2; i < n; i++ {
				switch c.toks[i][0] {
				case 'T':
					exp = f.Expires
				case 'N':
					exp = f.VivifyTTL
				}
			}
			m := store.Meta{Expires: exp, CAS: f.SetCAS, WinSent: true, Fetched: !f.NoUpdate}
			return store.Op{Action: store.Put, Meta: m}
		}
		if f.Value {
			if room = c.roomForValue(len(e.Value)); !room {
				return store.Op{Action: store.Keep, NoBump: true}
			}
		}
		hit = true
		m := e.Meta
		won := false
		if f.Value {
			c.out = append(c.out, "VA "...)
			c.out = strconv.AppendInt(c.out, int64(len(e.Value)), 10)
		} else {
			c.out = append(c.out, "HD"...)
		}
		for i := 2; i < n; i++ {
			t := c.toks[i]
			switch t[0] {
			case 'T':
				ttlSet = true
				m.Expires = f.Expires
			case 'R':
				if !m.WinSent && m.Expires != 0 && m.Expires < f.RecacheTTL {
					won = true
				}
			case 's':
				c.out = append(c.out, " s"...)
				c.out = strconv.AppendInt(c.out, int64(len(e.Value)), 10)
			case 't':
				c.appendTTL(m.Expires, now)
			case 'c':
				c.out = append(c.out, " c"...)
				c.out = strconv.AppendUint(c.out, m.CAS, 10)
			case 'f':
				c.out = append(c.out, " f"...)
				c.out = strconv.AppendUint(c.out, uint64(m.Flags), 10)
			case 'l':
				c.out = append(c.out, " l"...)
				c.out = strconv.AppendInt(c.out, now-e.Meta.Accessed, 10)
			case 'h':
				if e.Meta.Fetched {
					c.out = append(c.out, " h1"...)
				} else {
					c.out = append(c.out, " h0"...)
				}
			case 'O':
				c.out = append(c.out, ' ')
				c.out = append(c.out, t...)
			case 'k':
				c.appendItemKeyFlag(f.Key, e.Meta.KeyBinary)
			}
		}
		if m.WinSent {
			c.out = append(c.out, " Z"...)
		}
		if m.Stale {
			c.out = append(c.out, " X"...)
			if !m.WinSent {
				won = true
			}
		}
		if won {
			c.out = append(c.out, " W"...)
			m.WinSent = true
		}
		c.out = append(c.out, "\r\n"...)
		if f.Value {
			c.out = append(c.out, e.Value...)
			c.out = append(c.out, "\r\n"...)
		}
		if !ttlSet && !won {
			return store.Op{Action: store.Keep, NoBump: f.NoUpdate}
		}
		if !f.NoUpdate {
			m.Accessed, m.Fetched = now, true
		}
		return store.Op{Action: store.SetMeta, Meta: m}
	})
	if ttlSet {
		c.st[stCmdTouch]++
	} else {
		c.st[stCmdGet]++
	}
	switch {
	case !room:
		c.st[stStoreNoMemory]++
		c.errLine("SERVER_ERROR out of memory writing get response")
	case created && err != nil:
		c.errLine("SERVER_ERROR out of memory storing object")
	case created:
		c.st[stGetHits]++
		c.metaGetCreated(&f, n, meta, now)
	case hit:
		if ttlSet {
			c.st[stTouchHits]++
		} else {
			c.st[stGetHits]++
		}
	default:
		if ttlSet {
			c.st[stTouchMisses]++
		} else {
			c.st[stGetMisses]++
		}
		if !f.NoReply {
			c.out = append(c.out, "EN"...)
			c.appendOpaqueAndKey(&f, 2, n)
			c.out = append(c.out, "\r\n"...)
		}
	}
}

// metaGetCreated writes the reply for an item mg N just created.
func (c *conn) metaGetCreated(f *protocol.MetaFlags, n int, m store.Meta, now int64) {
	if f.Value {
		c.out = append(c.out, "VA 0"...)
	} else {
		c.out = append(c.out, "HD"...)
	}
	var exp int64
	for i := 2; i < n; i++ {
		t := c.toks[i]
		switch t[0] {
		case 'T':
			exp = f.Expires
		case 'N':
			exp = f.VivifyTTL
		case 's':
			c.out = append(c.out, " s0"...)
		case 't':
			c.appendTTL(exp, now)
		case 'c':
			c.out = append(c.out, " c"...)
			c.out = strconv.AppendUint(c.out, m.CAS, 10)
		case 'f':
			c.out = append(c.out, " f0"...)
		case 'l':
			c.out = append(c.out, " l0"...)
		case 'h':
			c.out = append(c.out, " h0"...)
		case 'O':
			c.out = append(c.out, ' ')
			c.out = append(c.out, t...)
		case 'k':
			// The item mg created does not remember a binary key.
			c.appendItemKeyFlag(f.Key, false)
		}
	}
	c.out = append(c.out, " W\r\n"...)
	if f.Value {
		c.out = append(c.out, "\r\n"...)
	}
}
