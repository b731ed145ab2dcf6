package server

import (
	"errors"
	"math"
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/store"
)

// metaSet serves ms.
func (c *conn) metaSet(n int) {
	if n < 2 {
		c.str("ERROR\r\n")
		return
	}
	if len(c.toks[1]) > protocol.MaxKeyLength || n == 2 {
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
	// N<ttl> and s are parsed and then ignored, as memcached 1.6.18 does:
	// an append or prepend to a missing key is NS (no autovivify) and the
	// reply carries no size. Newer memcached versions do both.
	errstr := c.parseMetaFlags(&f, 3, n, now)
	req := storeReq{flags: f.flags, expires: f.exptime, cas: f.cas, setCAS: f.setCAS, keyBinary: f.keyBinary}
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
	case resIsolated:
		c.errLine(isolatedError)
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
	var f metaFlags
	_, ok := c.metaHead(n, &f, "CLIENT_ERROR options flags too long", "CLIENT_ERROR invalid or duplicate flag")
	if !ok {
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
		if f.setStale {
			// Stale: the next reader wins the right to recache.
			m.Stale, m.WinSent = true, false
		}
		if !f.dropValue {
			// Marked in place, as memcached does: the value, the last
			// access time and the fetched bit are kept.
			return store.Op{Action: store.SetMeta, Meta: m}
		}
		c.parts[0] = nil
		m.Flags = 0
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
	var f metaFlags
	now, ok := c.metaHead(n, &f, "CLIENT_ERROR options flags too long", "CLIENT_ERROR invalid or duplicate flag")
	if !ok {
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

// metaHead starts mg, md and ma: it checks the key and the number of
// tokens, then parses the flags after the key into f. When the command ends
// there it writes the error and reports false: tooLong for too many tokens,
// flagErr for a bad flag (the parser's own message when flagErr is "").
func (c *conn) metaHead(n int, f *metaFlags, tooLong, flagErr string) (now int64, ok bool) {
	if n < 2 {
		c.str("ERROR\r\n")
		return 0, false
	}
	if len(c.toks[1]) > protocol.MaxKeyLength {
		c.errLine("CLIENT_ERROR bad command line format")
		return 0, false
	}
	if n+1 > maxMetaTokens {
		c.errLine(tooLong)
		return 0, false
	}
	now = c.now().Unix()
	if e := c.parseMetaFlags(f, 2, n, now); e != "" {
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
		c.blind(e)
		if !e.Found {
			return store.Op{Action: store.Keep, NoBump: true}
		}
		found = true
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
		return store.Op{Action: store.Keep, NoBump: true}
	})
	if !found {
		c.str("EN\r\n")
	}
}
