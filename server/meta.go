package server

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"

	"github.com/zonecache/zonecache/internal/wire"
	"github.com/zonecache/zonecache/server/store"
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

// appendKeyFlag writes " k<key>", base64 and " b" for binary keys.
func (c *conn) appendKeyFlag(f *metaFlags) {
	c.out = append(c.out, " k"...)
	if !f.keyBinary {
		c.out = append(c.out, f.key...)
		return
	}
	c.out = base64.StdEncoding.AppendEncode(c.out, f.key)
	c.out = append(c.out, " b"...)
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

// metaGet serves mg.
func (c *conn) metaGet(n int) {
	if n < 2 {
		c.str("ERROR\r\n")
		return
	}
	if len(c.toks[1]) > wire.MaxKeyLength {
		c.errLine("CLIENT_ERROR bad command line format")
		return
	}
	if n+1 > maxMetaTokens {
		c.errLine("CLIENT_ERROR options flags are too long")
		return
	}
	now := c.now().Unix()
	var f metaFlags
	if e := c.parseMetaFlags(&f, 2, n, now); e != "" {
		c.errLine(e)
		return
	}
	if c.opaqueTooLong(n) {
		c.errLine("CLIENT_ERROR opaque token too long")
		return
	}
	hit, created, ttlSet, room := false, false, false, true
	meta, err := c.s.store.Update(f.key, func(e *store.Entry) store.Op {
		if !e.Found {
			if !f.vivify {
				return store.Op{Action: store.Keep}
			}
			created = true
			var exp int64
			for i := 2; i < n; i++ {
				switch c.toks[i][0] {
				case 'T':
					exp = f.exptime
				case 'N':
					exp = f.autoviv
				}
			}
			m := store.Meta{Expires: exp, CAS: f.setCAS, WinSent: true, Fetched: !f.noUpdate}
			return store.Op{Action: store.Put, Meta: m}
		}
		if f.value {
			if room = c.roomForValue(len(e.Value)); !room {
				return store.Op{Action: store.Keep, NoBump: true}
			}
		}
		hit = true
		m := e.Meta
		won := false
		if f.value {
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
				m.Expires = f.exptime
			case 'R':
				if !m.WinSent && m.Expires != 0 && m.Expires < f.recache {
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
				c.appendKeyFlag(&f)
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
		if f.value {
			c.out = append(c.out, e.Value...)
			c.out = append(c.out, "\r\n"...)
		}
		if !ttlSet && !won {
			return store.Op{Action: store.Keep, NoBump: f.noUpdate}
		}
		if !f.noUpdate {
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
		if !f.noReply {
			c.out = append(c.out, "EN"...)
			c.appendOpaqueAndKey(&f, 2, n)
			c.out = append(c.out, "\r\n"...)
		}
	}
}

// metaGetCreated writes the reply for an item mg N just created.
func (c *conn) metaGetCreated(f *metaFlags, n int, m store.Meta, now int64) {
	if f.value {
		c.out = append(c.out, "VA 0"...)
	} else {
		c.out = append(c.out, "HD"...)
	}
	var exp int64
	for i := 2; i < n; i++ {
		t := c.toks[i]
		switch t[0] {
		case 'T':
			exp = f.exptime
		case 'N':
			exp = f.autoviv
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
			c.appendKeyFlag(f)
		}
	}
	c.out = append(c.out, " W\r\n"...)
	if f.value {
		c.out = append(c.out, "\r\n"...)
	}
}

// metaSet serves ms.
func (c *conn) metaSet(n int) {
	if n < 2 {
		c.str("ERROR\r\n")
		return
	}
	if len(c.toks[1]) > wire.MaxKeyLength || n == 2 {
		c.errLine("CLIENT_ERROR bad command line format")
		return
	}
	if n+1 > maxMetaTokens {
		c.errLine("CLIENT_ERROR options flags too long")
		return
	}
	vlen, ok := parseInt32(c.toks[2])
	if !ok || vlen < 0 || vlen > math.MaxInt32-2 {
		c.errLine("CLIENT_ERROR bad command line format")
		return
	}
	size := int(vlen)
	now := c.now().Unix()
	var f metaFlags
	errstr := c.parseMetaFlags(&f, 3, n, now)
	req := storeReq{flags: f.flags, expires: f.exptime, cas: f.cas, setCAS: f.setCAS}
	if errstr == "" {
		if c.opaqueTooLong(n) {
			errstr = "CLIENT_ERROR opaque token too long"
		}
		switch f.mode {
		case 0, 'S':
			req.mode = modeSet
		case 'E':
			req.mode = modeAdd
		case 'A':
			req.mode = modeAppend
		case 'P':
			req.mode = modePrepend
		case 'R':
			req.mode = modeReplace
		default:
			errstr = "CLIENT_ERROR invalid mode for ms M token"
		}
	}
	if errstr == "" && c.itemTooLarge(f.key, size) {
		c.st[stStoreTooLarge]++
		errstr = "SERVER_ERROR object too large for cache"
		c.deleteKey(f.key)
	}
	if errstr != "" {
		c.errLine(errstr)
		if c.swallow(size+2) != nil {
			c.quit = true
		}
		return
	}
	if f.hasCAS && (req.mode == modeSet || req.mode == modeReplace) {
		req.mode = modeCAS
		req.stale = f.setStale
	}
	data, err := c.readData(size)
	if errors.Is(err, errNoBuffer) {
		c.st[stStoreNoMemory]++
		c.deleteKey(f.key)
		c.errLine("SERVER_ERROR out of memory storing object")
		if c.swallow(size+2) != nil {
			c.quit = true
		}
		return
	}
	if err != nil {
		c.quit = true
		return
	}
	defer c.releaseData()
	if data[size] != '\r' || data[size+1] != '\n' {
		c.errLine("CLIENT_ERROR bad data chunk")
		return
	}
	c.st[stCmdSet]++
	res, meta := c.write(f.key, data[:size], &req)
	var code string
	switch res {
	case resStored:
		if req.mode == modeCAS {
			c.st[stCasHits]++
		}
		if f.noReply {
			return
		}
		code = "HD"
	case resNotStored:
		code = "NS"
	case resExists:
		c.st[stCasBadval]++
		code = "EX"
	case resNotFound:
		c.st[stCasMisses]++
		code = "NF"
	case resTooLarge:
		c.st[stStoreTooLarge]++
		c.deleteKey(f.key)
		c.errLine("SERVER_ERROR object too large for cache")
		return
	default:
		c.st[stStoreNoMemory]++
		c.deleteKey(f.key)
		c.errLine("SERVER_ERROR out of memory storing object")
		return
	}
	c.str(code)
	for i := 3; i < n; i++ {
		switch t := c.toks[i]; t[0] {
		case 'O':
			c.out = append(c.out, ' ')
			c.out = append(c.out, t...)
		case 'k':
			c.appendKeyFlag(&f)
		case 'c':
			c.out = append(c.out, " c"...)
			if res == resStored {
				c.out = strconv.AppendUint(c.out, meta.CAS, 10)
			} else {
				c.out = append(c.out, '0')
			}
		}
	}
	c.str("\r\n")
}

// metaDelete serves md.
func (c *conn) metaDelete(n int) {
	if n < 2 {
		c.str("ERROR\r\n")
		return
	}
	if len(c.toks[1]) > wire.MaxKeyLength {
		c.errLine("CLIENT_ERROR bad command line format")
		return
	}
	if n+1 > maxMetaTokens {
		c.errLine("CLIENT_ERROR options flags too long")
		return
	}
	now := c.now().Unix()
	var f metaFlags
	if e := c.parseMetaFlags(&f, 2, n, now); e != "" {
		c.errLine("CLIENT_ERROR invalid or duplicate flag")
		return
	}
	if c.opaqueTooLong(n) {
		c.errLine("CLIENT_ERROR opaque token too long")
		return
	}
	code := "NF"
	_, _ = c.s.store.Update(f.key, func(e *store.Entry) store.Op {
		if !e.Found {
			return store.Op{Action: store.Keep}
		}
		if f.hasCAS && f.cas != e.Meta.CAS {
			code = "EX"
			return store.Op{Action: store.Keep, NoBump: true}
		}
		code = "HD"
		if !f.setStale && !f.dropValue {
			return store.Op{Action: store.Delete}
		}
		m := e.Meta
		m.CAS = f.setCAS
		if f.newTTL {
			m.Expires = f.exptime
		}
		c.parts[0] = e.Value
		if f.setStale {
			// Stale: the next reader wins the right to recache.
			m.Stale, m.WinSent = true, false
		}
		if f.dropValue {
			c.parts[0] = nil
			m.Flags = 0
		}
		return store.Op{Action: store.Put, Meta: m, Value: c.parts[:1]}
	})
	c.parts[0] = nil
	switch code {
	case "HD":
		c.st[stDeleteHits]++
		if f.noReply {
			return
		}
	default:
		c.st[stDeleteMisses]++
	}
	c.str(code)
	c.appendOpaqueAndKey(&f, 2, n)
	c.str("\r\n")
}

// metaArith serves ma.
func (c *conn) metaArith(n int) {
	if n < 2 {
		c.str("ERROR\r\n")
		return
	}
	if len(c.toks[1]) > wire.MaxKeyLength {
		c.errLine("CLIENT_ERROR bad command line format")
		return
	}
	if n+1 > maxMetaTokens {
		c.errLine("CLIENT_ERROR options flags too long")
		return
	}
	now := c.now().Unix()
	var f metaFlags
	if e := c.parseMetaFlags(&f, 2, n, now); e != "" {
		c.errLine("CLIENT_ERROR invalid or duplicate flag")
		return
	}
	req := arithReq{incr: true, delta: f.delta, vivify: f.vivify, initial: f.initial, setCAS: f.setCAS}
	switch f.mode {
	case 0, 'I', '+':
	case 'D', '-':
		req.incr = false
	default:
		c.errLine("CLIENT_ERROR invalid mode for ma M token")
		return
	}
	if c.opaqueTooLong(n) {
		c.errLine("CLIENT_ERROR opaque token too long")
		return
	}
	if f.hasCAS {
		req.cas = f.cas
	}
	// T and N change the expiry in request order, as memcached does.
	req.expires = func(old int64, created bool) int64 {
		exp := old
		for i := 2; i < n; i++ {
			switch c.toks[i][0] {
			case 'T':
				exp = f.exptime
			case 'N':
				if created {
					exp = f.autoviv
				}
			}
		}
		return exp
	}
	var before int64
	beforeFn := req.expires
	req.expires = func(old int64, created bool) int64 {
		before = old
		return beforeFn(old, created)
	}
	res, meta := c.applyArith(f.key, &req)
	switch res {
	case arithOK, arithCreated:
		if req.incr {
			c.st[stIncrHits]++
		} else {
			c.st[stDecrHits]++
		}
		if res == arithOK && f.noReply {
			return
		}
		if f.value {
			c.str("VA ")
			c.out = strconv.AppendInt(c.out, int64(len(c.num)), 10)
		} else {
			c.str("HD")
		}
		exp := before
		for i := 2; i < n; i++ {
			switch t := c.toks[i]; t[0] {
			case 'c':
				c.out = append(c.out, " c"...)
				c.out = strconv.AppendUint(c.out, meta.CAS, 10)
			case 't':
				c.appendTTL(exp, now)
			case 'T':
				exp = f.exptime
			case 'N':
				if res == arithCreated {
					exp = f.autoviv
				}
			case 'O':
				c.out = append(c.out, ' ')
				c.out = append(c.out, t...)
			case 'k':
				c.appendKeyFlag(&f)
			}
		}
		c.str("\r\n")
		if f.value {
			c.out = append(c.out, c.num...)
			c.str("\r\n")
		}
	case arithNonNumeric:
		c.errLine("CLIENT_ERROR cannot increment or decrement non-numeric value")
	case arithNoMemory:
		c.errLine("SERVER_ERROR out of memory")
	case arithNotFound, arithExists:
		if res == arithNotFound {
			if req.incr {
				c.st[stIncrMisses]++
			} else {
				c.st[stDecrMisses]++
			}
			c.str("NF")
		} else {
			c.str("EX")
		}
		c.appendOpaqueAndKey(&f, 2, n)
		c.str("\r\n")
	}
}

// metaDebug serves me <key> [b].
func (c *conn) metaDebug(n int) {
	if n < 2 || len(c.toks[1]) > wire.MaxKeyLength {
		c.errLine("CLIENT_ERROR bad command line format")
		return
	}
	key := c.toks[1]
	if n >= 3 && string(c.toks[2]) == "b" {
		dec, ok := c.decodeKey(key)
		if !ok {
			c.errLine("CLIENT_ERROR bad command line format")
			return
		}
		key = dec
	}
	now := c.now().Unix()
	found := false
	_, _ = c.s.store.Update(key, func(e *store.Entry) store.Op {
		if !e.Found {
			return store.Op{Action: store.Keep, NoBump: true}
		}
		found = true
		c.str("ME ")
		c.out = append(c.out, c.toks[1]...)
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
		return store.Op{Action: store.Keep, NoBump: true}
	})
	if !found {
		c.str("EN\r\n")
	}
}
