package server

import (
	"encoding/base64"
	"strconv"
)

const (
	// maxMetaTokens is memcached's MFLAG_MAX_OPT_LENGTH: a meta command
	// with more tokens (counting the command, its arguments and the final
	// terminator) is refused.
	maxMetaTokens = 20
	// maxOpaqueLength bounds an O token, the O included.
	maxOpaqueLength = 32
)

// metaFlags are the parsed flags of a meta command.
type metaFlags struct {
	key       []byte // the key, base64-decoded when b is set
	keyBinary bool
	noReply   bool
	value     bool
	noUpdate  bool
	vivify    bool
	setStale  bool
	hasCAS    bool
	newTTL    bool
	dropValue bool // md x
	mode      byte
	exptime   int64 // T, as an absolute expiry
	autoviv   int64 // N
	recache   int64 // R
	flags     uint32
	cas       uint64 // C
	setCAS    uint64 // E
	delta     uint64
	initial   uint64
}

// parseMetaFlags reads the flag tokens from index start to n, as
// memcached's _meta_flag_preparse does. It returns "" or the error line.
func (c *conn) parseMetaFlags(f *metaFlags, start, n int, now int64) string {
	f.key = c.toks[1]
	f.delta = 1
	var seen [128]bool
	errstr := ""
	for i := start; i < n; i++ {
		t := c.toks[i]
		o := t[0]
		if o >= 127 || seen[o] {
			return "CLIENT_ERROR duplicate flag"
		}
		seen[o] = true
		switch o {
		case 'b':
			dec, ok := c.decodeKey(c.toks[1])
			if !ok {
				errstr = "CLIENT_ERROR error decoding key"
			}
			f.key = dec
			f.keyBinary = true
		case 'N', 'T', 'R':
			v, ok := parseInt32(t[1:])
			if !ok {
				errstr = "CLIENT_ERROR bad token in command line format"
				continue
			}
			exp := expiry(v, now)
			switch o {
			case 'N':
				f.vivify, f.autoviv = true, exp
			case 'T':
				f.newTTL, f.exptime = true, exp
			default:
				f.recache = exp
			}
		case 'l', 'O', 'P', 'L', 'k', 's', 't', 'c', 'f', 'h':
		case 'v':
			f.value = true
		case 'u':
			f.noUpdate = true
		case 'q':
			f.noReply = true
		case 'F':
			v, ok := parseUint32(t[1:])
			if !ok {
				if errstr == "" {
					errstr = "CLIENT_ERROR bad command line format"
				}
				continue
			}
			f.flags = v
		case 'C', 'E':
			v, ok := parseUint64(t[1:])
			if !ok {
				errstr = "CLIENT_ERROR bad token in command line format"
				continue
			}
			if o == 'C' {
				f.hasCAS, f.cas = true, v
			} else {
				f.setCAS = v
			}
		case 'M':
			if len(t) != 2 {
				errstr = "CLIENT_ERROR incorrect length for M token"
				continue
			}
			f.mode = t[1]
		case 'J':
			v, ok := parseUint64(t[1:])
			if !ok {
				errstr = "CLIENT_ERROR invalid numeric initial value"
				continue
			}
			f.initial = v
		case 'D':
			v, ok := parseUint64(t[1:])
			if !ok {
				errstr = "CLIENT_ERROR invalid numeric delta value"
				continue
			}
			f.delta = v
		case 'I':
			f.setStale = true
		case 'x':
			f.dropValue = true
		default:
			return "CLIENT_ERROR invalid flag"
		}
	}
	return errstr
}

// decodeKey base64-decodes a key into the connection's key buffer.
func (c *conn) decodeKey(k []byte) ([]byte, bool) {
	n := base64.StdEncoding.DecodedLen(len(k))
	if cap(c.keybuf) < n {
		c.keybuf = make([]byte, n)
	}
	m, err := base64.StdEncoding.Decode(c.keybuf[:n], k)
	if err != nil || m == 0 {
		return nil, false
	}
	return c.keybuf[:m], true
}

// opaqueTooLong reports an O token longer than memcached allows.
func (c *conn) opaqueTooLong(n int) bool {
	for i := 2; i < n; i++ {
		if c.toks[i][0] == 'O' && len(c.toks[i]) > maxOpaqueLength {
			return true
		}
	}
	return false
}

// appendKeyFlag writes " k<key>" as the request gave the key: base64 and
// " b" for binary keys. ms, md and ma answer so.
func (c *conn) appendKeyFlag(f *metaFlags) { c.appendItemKeyFlag(f.key, f.keyBinary) }

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
func (c *conn) appendOpaqueAndKey(f *metaFlags, from, n int) {
	for i := from; i < n; i++ {
		switch t := c.toks[i]; t[0] {
		case 'O':
			c.out = append(c.out, ' ')
			c.out = append(c.out, t...)
		case 'k':
			c.appendKeyFlag(f)
		}
	}
}

func (c *conn) appendTTL(expires, now int64) {
	c.out = append(c.out, " t"...)
	if expires == 0 {
		c.out = append(c.out, "-1"...)
		return
	}
	c.out = strconv.AppendInt(c.out, expires-now, 10)
}

func (c *conn) errLine(s string) {
	c.str(s)
	c.str("\r\n")
}
