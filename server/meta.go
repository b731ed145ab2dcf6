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
	if n+1 > protocol.MaxMetaTokens {
		c.errLine("CLIENT_ERROR options flags too long")
		return
	}
	vlen, ok := protocol.ParseArgInt32(c.toks[2])
	if !ok || vlen < 0 || vlen > math.MaxInt32-2 {
		c.errLine("CLIENT_ERROR bad command line format")
		return
	}
	size := int(vlen)
	now := c.now().Unix()
	var f protocol.MetaFlags
	// N<ttl> and s are parsed and then ignored, as memcached 1.6.18 does:
	// an append or prepend to a missing key is NS (no autovivify) and the
	// reply carries no size. Newer memcached versions do both.
	errstr := ""
	if err := f.Parse(c.toks[1], c.toks[3:n], now, c.keybuf); err != nil {
		errstr = err.Error()
	}
	req := storeReq{flags: f.Flags, expires: f.Expires, cas: f.CAS, setCAS: f.SetCAS, keyBinary: f.KeyBinary}
	if errstr == "" {
		if f.LongOpaque {
			errstr = "CLIENT_ERROR opaque token too long"
		}
		switch f.Mode {
		case 0:
			req.mode = protocol.ModeSet
		case protocol.ModeSet, protocol.ModeAdd, protocol.ModeAppend, protocol.ModePrepend, protocol.ModeReplace:
			req.mode = f.Mode
		default:
			errstr = "CLIENT_ERROR invalid mode for ms M token"
		}
	}
	if errstr == "" && c.itemTooLarge(f.Key, size) {
		c.st[stStoreTooLarge]++
		errstr = "SERVER_ERROR object too large for cache"
		c.deleteKey(f.Key)
	}
	if errstr != "" {
		c.errLine(errstr)
		if c.swallow(size+2) != nil {
			c.quit = true
		}
		return
	}
	if f.HasCAS && (req.mode == protocol.ModeSet || req.mode == protocol.ModeReplace) {
		req.compare = true
		req.stale = f.Invalidate
	}
	data, err := c.readData(size)
	if errors.Is(err, errNoBuffer) {
		c.st[stStoreNoMemory]++
		c.deleteKey(f.Key)
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
	res, meta := c.write(f.Key, data[:size], &req)
	var code string
	switch res {
	case resStored:
		if req.compare {
			c.st[stCasHits]++
		}
		if f.NoReply {
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
		c.deleteKey(f.Key)
		c.errLine("SERVER_ERROR object too large for cache")
		return
	case resIsolated:
		c.errLine(isolatedError)
		return
	default:
		c.st[stStoreNoMemory]++
		c.deleteKey(f.Key)
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
	var f protocol.MetaFlags
	_, ok := c.metaHead(n, &f, "CLIENT_ERROR options flags too long", "CLIENT_ERROR invalid or duplicate flag")
	if !ok {
		return
	}
	if f.LongOpaque {
		c.errLine("CLIENT_ERROR opaque token too long")
		return
	}
	code := "NF"
	_, _ = c.s.store.Update(f.Key, func(e *store.Entry) store.Op {
		if !e.Found {
			return store.Op{Action: store.Keep}
		}
		if f.HasCAS && f.CAS != e.Meta.CAS {
			code = "EX"
			return store.Op{Action: store.Keep, NoBump: true}
		}
		code = "HD"
		if !f.Invalidate && !f.DropValue {
			return store.Op{Action: store.Delete}
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
		if f.NoReply {
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
	var f protocol.MetaFlags
	now, ok := c.metaHead(n, &f, "CLIENT_ERROR options flags too long", "CLIENT_ERROR invalid or duplicate flag")
	if !ok {
		return
	}
	req := arithReq{incr: true, delta: f.Delta, vivify: f.Vivify, initial: f.Initial, setCAS: f.SetCAS}
	switch f.Mode {
	case 0, 'I', '+':
	case 'D', '-':
		req.incr = false
	default:
		c.errLine("CLIENT_ERROR invalid mode for ma M token")
		return
	}
	if f.LongOpaque {
		c.errLine("CLIENT_ERROR opaque token too long")
		return
	}
	if f.HasCAS {
		req.cas = f.CAS
	}
	// T and N change the expiry in request order, as memcached does.
	req.expires = func(old int64, created bool) int64 {
		exp := old
		for i := 2; i < n; i++ {
			switch c.toks[i][0] {
			case 'T':
				exp = f.Expires
			case 'N':
				if created {
					exp = f.VivifyTTL
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
	res, meta := c.applyArith(f.Key, &req)
	switch res {
	case arithOK, arithCreated:
		if req.incr {
			c.st[stIncrHits]++
		} else {
			c.st[stDecrHits]++
		}
		if res == arithOK && f.NoReply {
			return
		}
		if f.Value {
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
				exp = f.Expires
			case 'N':
				if res == arithCreated {
					exp = f.VivifyTTL
				}
			case 'O':
				c.out = append(c.out, ' ')
				c.out = append(c.out, t...)
			case 'k':
				c.appendKeyFlag(&f)
			}
		}
		c.str("\r\n")
		if f.Value {
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
