package server

import (
	"encoding/base64"
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
)

// appendKeyFlag writes " k<key>" as the request gave the key: base64 and
// " b" for binary keys. ms, md and ma answer so.
func (c *conn) appendKeyFlag(f *protocol.MetaFlags) { c.appendItemKeyFlag(f.Key, f.KeyBinary) }

// appendItemKeyFlag writes " k<key>", base64 and " b" when binary. mg
// passes whether the item was stored with a binary key, as memcached does.
func (c *conn) appendItemKeyFlag(key []byte, binary bool) {
	c.out = append(c.out, " k"...)
	c.appendKey(key, binary)
	if binary {
		c.out = append(c.out, " b"...)
	}
}

// appendKey writes key, base64-encoded when binary.
func (c *conn) appendKey(key []byte, binary bool) {
	if binary {
		c.out = base64.StdEncoding.AppendEncode(c.out, key)
	} else {
		c.out = append(c.out, key...)
	}
}

// appendOpaqueAndKey writes the O and k flags in request order.
func (c *conn) appendOpaqueAndKey(f *protocol.MetaFlags, from, n int) {
	for i := from; i < n; i++ {
		switch t := c.toks[i]; t[0] {
		case 'O':
			c.appendToken(t)
		case 'k':
			c.appendKeyFlag(f)
		}
	}
}

// appendToken writes " <t>": a request token echoed back, such as O.
func (c *conn) appendToken(t []byte) {
	c.out = append(c.out, ' ')
	c.out = append(c.out, t...)
}

// appendIntFlag writes a return flag and its number, such as " s5".
func (c *conn) appendIntFlag(flag string, v int64) {
	c.out = append(c.out, flag...)
	c.out = strconv.AppendInt(c.out, v, 10)
}

// appendUintFlag writes a return flag and its unsigned number, such as " c7".
func (c *conn) appendUintFlag(flag string, v uint64) {
	c.out = append(c.out, flag...)
	c.out = strconv.AppendUint(c.out, v, 10)
}

// appendBoolFlag writes a return flag followed by 1 or 0, such as " h1".
func (c *conn) appendBoolFlag(flag string, v bool) {
	c.out = append(c.out, flag...)
	if v {
		c.out = append(c.out, '1')
	} else {
		c.out = append(c.out, '0')
	}
}

// appendTTL writes " t<seconds left>", -1 for an item that never expires.
func (c *conn) appendTTL(expires, now int64) {
	c.out = append(c.out, " t"...)
	if expires == 0 {
		c.out = append(c.out, "-1"...)
		return
	}
	c.out = strconv.AppendInt(c.out, expires-now, 10)
}

// errLine writes an error line.
func (c *conn) errLine(s string) {
	c.str(s)
	c.str("\r\n")
}
