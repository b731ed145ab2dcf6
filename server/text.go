package server

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/zonecache/zonecache/internal/wire"
	"github.com/zonecache/zonecache/server/store"
)

// maxRelativeExptime is memcached's REALTIME_MAXDELTA: larger exptimes are
// absolute Unix times.
const maxRelativeExptime = 60 * 60 * 24 * 30

// expiry converts a memcached exptime into an absolute Unix time, 0 meaning
// never. Negative exptimes and absolute times in the past give a time that
// has already passed.
func expiry(exptime int32, now int64) int64 {
	switch {
	case exptime == 0:
		return 0
	case exptime < 0:
		return 1
	case exptime > maxRelativeExptime:
		return int64(exptime)
	}
	return now + int64(exptime)
}

// appendValueHeader writes "VALUE <key> <flags> <bytes>[ <cas>]\r\n".
func (c *conn) appendValueHeader(key []byte, m *store.Meta, size int, withCAS bool) {
	c.out = append(c.out, "VALUE "...)
	c.out = append(c.out, key...)
	c.out = append(c.out, ' ')
	c.out = strconv.AppendUint(c.out, uint64(m.Flags), 10)
	c.out = append(c.out, ' ')
	c.out = strconv.AppendInt(c.out, int64(size), 10)
	if withCAS {
		c.out = append(c.out, ' ')
		c.out = strconv.AppendUint(c.out, m.CAS, 10)
	}
	c.out = append(c.out, "\r\n"...)
}

// getKey appends one key's VALUE block, if it is a hit. It reports false
// when the value cannot be buffered (large-value budget spent).
func (c *conn) getKey(key []byte, withCAS bool) bool {
	c.st[stCmdGet]++
	room := true
	hit := c.s.store.Get(key, func(e *store.Entry) {
		if room = c.roomForValue(len(e.Value)); !room {
			return
		}
		c.appendValueHeader(key, &e.Meta, len(e.Value), withCAS)
		c.out = append(c.out, e.Value...)
		c.out = append(c.out, "\r\n"...)
	})
	if hit {
		c.st[stGetHits]++
	} else {
		c.st[stGetMisses]++
	}
	return room
}

// noRoomForGet ends a retrieval whose reply cannot be buffered, as
// memcached does when it runs out of memory for a get response.
func (c *conn) noRoomForGet(mark int, flushes uint64) {
	if c.flushes == flushes {
		c.out = c.out[:mark]
	}
	c.st[stStoreNoMemory]++
	c.str("SERVER_ERROR out of memory writing get response\r\n")
}

// flushLarge writes out a reply that has grown past the flush threshold in
// the middle of a multi-key command, so one command never buffers more
// than about one value beyond the threshold.
func (c *conn) flushLarge() bool {
	if len(c.out) < flushThreshold {
		return true
	}
	if c.flush() != nil {
		c.quit = true
		return false
	}
	return true
}

// get serves get, gets and bget; rest is the line after the command.
func (c *conn) get(rest []byte, withCAS bool) {
	key, rest := nextToken(rest)
	if len(key) == 0 {
		c.str("ERROR\r\n")
		return
	}
	mark, flushes := len(c.out), c.flushes
	for len(key) > 0 {
		if len(key) > wire.MaxKeyLength {
			c.abortMultiGet(mark, flushes)
			return
		}
		if !c.getKey(key, withCAS) {
			c.noRoomForGet(mark, flushes)
			return
		}
		if !c.flushLarge() {
			return
		}
		key, rest = nextToken(rest)
	}
	c.str("END\r\n")
}

// abortMultiGet drops the replies of a multi-get that met an over-long key,
// as memcached does, unless they were already written out.
func (c *conn) abortMultiGet(mark int, flushes uint64) {
	if c.flushes == flushes {
		c.out = c.out[:mark]
	}
	c.str("CLIENT_ERROR bad command line format\r\n")
}

// gat serves gat and gats: fetch and set a new expiry.
func (c *conn) gat(rest []byte, withCAS bool) {
	tok, rest := nextToken(rest)
	if len(tok) == 0 {
		c.str("ERROR\r\n")
		return
	}
	exptime, ok := parseInt32(tok)
	if !ok {
		c.str("CLIENT_ERROR invalid exptime argument\r\n")
		return
	}
	now := c.now().Unix()
	exp := expiry(exptime, now)
	mark, flushes := len(c.out), c.flushes
	key, rest := nextToken(rest)
	for len(key) > 0 {
		if len(key) > wire.MaxKeyLength {
			c.abortMultiGet(mark, flushes)
			return
		}
		c.st[stCmdTouch]++
		hit, room := false, true
		_, _ = c.s.store.Update(key, func(e *store.Entry) store.Op {
			if !e.Found {
				return store.Op{Action: store.Keep}
			}
			if room = c.roomForValue(len(e.Value)); !room {
				return store.Op{Action: store.Keep, NoBump: true}
			}
			hit = true
			m := e.Meta
			m.Expires = exp
			m.Accessed = now
			m.Fetched = true
			c.appendValueHeader(key, &m, len(e.Value), withCAS)
			c.out = append(c.out, e.Value...)
			c.out = append(c.out, "\r\n"...)
			return store.Op{Action: store.SetMeta, Meta: m}
		})
		if !room {
			c.noRoomForGet(mark, flushes)
			return
		}
		if hit {
			c.st[stTouchHits]++
		} else {
			c.st[stTouchMisses]++
		}
		if !c.flushLarge() {
			return
		}
		key, rest = nextToken(rest)
	}
	c.str("END\r\n")
}

// streamGet serves a get or gets line longer than maxLineLength whose end
// has not arrived: keys are served as they come, so the line never has to
// fit in memory.
func (c *conn) streamGet() cmdID {
	buf, _ := c.r.Peek(c.r.Buffered())
	cmd, rest := nextToken(buf)
	withCAS := string(cmd) == "gets"
	id := cmdGet
	if withCAS {
		id = cmdGets
	}
	_, _ = c.r.Discard(len(buf) - len(rest))
	mark, flushes := len(c.out), c.flushes
	nkeys := 0
	for {
		buf, _ = c.r.Peek(c.r.Buffered())
		seg := buf
		nl := bytes.IndexByte(buf, '\n')
		if nl >= 0 {
			seg = buf[:nl]
			if len(seg) > 0 && seg[len(seg)-1] == '\r' {
				seg = seg[:len(seg)-1]
			}
		}
		used := 0
		for {
			i := used
			for i < len(seg) && seg[i] == ' ' {
				i++
			}
			j := i
			for j < len(seg) && seg[j] != ' ' {
				j++
			}
			if j-i > wire.MaxKeyLength {
				c.abortMultiGet(mark, flushes)
				c.discardLine()
				return id
			}
			if j == len(seg) && nl < 0 {
				// The token may go on in data not read yet.
				used = i
				break
			}
			if i == j {
				// End of line.
				_, _ = c.r.Discard(nl + 1)
				if nkeys == 0 {
					c.out = c.out[:mark]
					c.str("ERROR\r\n")
					return id
				}
				c.str("END\r\n")
				return id
			}
			if !c.getKey(seg[i:j], withCAS) {
				c.noRoomForGet(mark, flushes)
				c.discardLine()
				return id
			}
			nkeys++
			used = j
		}
		_, _ = c.r.Discard(used)
		if c.r.Buffered() < readBufferSize/2 && len(c.out) > 0 {
			if c.flush() != nil {
				c.quit = true
				return id
			}
		}
		if _, err := c.r.Peek(c.r.Buffered() + 1); err != nil {
			c.quit = true
			return id
		}
	}
}

// discardLine drops input up to and including the next newline.
func (c *conn) discardLine() {
	for {
		buf, _ := c.r.Peek(c.r.Buffered())
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			_, _ = c.r.Discard(i + 1)
			return
		}
		_, _ = c.r.Discard(len(buf))
		if c.flush() != nil {
			c.quit = true
			return
		}
		if _, err := c.r.Peek(1); err != nil {
			c.quit = true
			return
		}
	}
}

// storeMode is the kind of write a storage command asks for.
type storeMode uint8

const (
	modeSet storeMode = iota
	modeAdd
	modeReplace
	modeAppend
	modePrepend
	modeCAS
)

// storeResult is the outcome of a write.
type storeResult uint8

const (
	resStored storeResult = iota
	resNotStored
	resExists
	resNotFound
	resTooLarge
	resNoMemory
)

// storeReq is one write: what storage commands and ms share.
type storeReq struct {
	mode    storeMode
	flags   uint32
	expires int64
	cas     uint64 // compare: cas command, ms C
	stale   bool   // ms I with C: accept an older CAS and keep the item stale
	setCAS  uint64 // ms E: the CAS unique the new item gets; 0 = next
}

// write applies a storage request with memcached's semantics.
func (c *conn) write(key, value []byte, req *storeReq) (storeResult, store.Meta) {
	res := resStored
	meta, err := c.s.store.Update(key, func(e *store.Entry) store.Op {
		newMeta := store.Meta{Flags: req.flags, Expires: req.expires, CAS: req.setCAS}
		c.parts[0], c.parts[1] = value, nil
		parts := c.parts[:1]
		switch req.mode {
		case modeAdd:
			if e.Found {
				res = resNotStored
				return store.Op{Action: store.Keep, NoBump: true}
			}
		case modeReplace:
			if !e.Found {
				res = resNotStored
				return store.Op{Action: store.Keep}
			}
		case modeAppend, modePrepend:
			if !e.Found {
				res = resNotStored
				return store.Op{Action: store.Keep}
			}
			if req.cas != 0 && req.cas != e.Meta.CAS {
				res = resExists
				return store.Op{Action: store.Keep, NoBump: true}
			}
			newMeta.Flags, newMeta.Expires = e.Meta.Flags, e.Meta.Expires
			if req.mode == modeAppend {
				c.parts[0], c.parts[1] = e.Value, value
			} else {
				c.parts[0], c.parts[1] = value, e.Value
			}
			parts = c.parts[:2]
		case modeCAS:
			if !e.Found {
				res = resNotFound
				return store.Op{Action: store.Keep}
			}
			if req.cas == 0 || req.cas != e.Meta.CAS {
				if !req.stale || req.cas == 0 || req.cas > e.Meta.CAS {
					res = resExists
					return store.Op{Action: store.Keep, NoBump: true}
				}
				// A stale write: the value is replaced but the item stays
				// stale, with its TTL and win token.
				newMeta.Expires = e.Meta.Expires
				newMeta.Stale = true
				newMeta.WinSent = e.Meta.WinSent
			}
		}
		res = resStored
		return store.Op{Action: store.Put, Meta: newMeta, Value: parts}
	})
	c.parts[0], c.parts[1] = nil, nil
	if err != nil {
		switch {
		case errors.Is(err, store.ErrTooLarge):
			if req.mode == modeAppend || req.mode == modePrepend {
				return resNotStored, meta
			}
			return resTooLarge, meta
		default:
			return resNoMemory, meta
		}
	}
	return res, meta
}

// itemTooLarge reports whether an item with this key and value length can
// never be stored.
func (c *conn) itemTooLarge(key []byte, vlen int) bool {
	return store.ItemSize(len(key), vlen) > c.s.cfg.MaxItemSize
}

// deleteKey removes key, as memcached does after a failed set.
func (c *conn) deleteKey(key []byte) {
	_, _ = c.s.store.Update(key, func(e *store.Entry) store.Op {
		if !e.Found {
			return store.Op{Action: store.Keep}
		}
		return store.Op{Action: store.Delete}
	})
}

// update serves set, add, replace, append, prepend and cas.
func (c *conn) update(n int, id cmdID) cmdID {
	want := 5
	if id == cmdCas {
		want = 6
	}
	if n != want && n != want+1 {
		c.str("ERROR\r\n")
		return id
	}
	noreply := c.noreply(n)
	key := c.toks[1]
	if len(key) > wire.MaxKeyLength {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return id
	}
	flags, ok1 := parseUint32(c.toks[2])
	exptime, ok2 := parseInt32(c.toks[3])
	vlen, ok3 := parseInt32(c.toks[4])
	if !ok1 || !ok2 || !ok3 {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return id
	}
	req := storeReq{flags: flags, expires: expiry(exptime, c.now().Unix())}
	switch id {
	case cmdAdd:
		req.mode = modeAdd
	case cmdReplace:
		req.mode = modeReplace
	case cmdAppend:
		req.mode = modeAppend
	case cmdPrepend:
		req.mode = modePrepend
	case cmdCas:
		req.mode = modeCAS
		cas, ok := parseUint64(c.toks[5])
		if !ok {
			c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
			return id
		}
		req.cas = cas
	}
	if vlen < 0 || vlen > math.MaxInt32-2 {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return id
	}
	size := int(vlen)
	if c.itemTooLarge(key, size) {
		c.st[stStoreTooLarge]++
		c.reply(noreply, "SERVER_ERROR object too large for cache\r\n")
		if c.swallow(size+2) != nil {
			c.quit = true
		}
		if id == cmdSet {
			c.deleteKey(key)
		}
		return id
	}
	data, err := c.readData(size)
	if errors.Is(err, errNoBuffer) {
		c.st[stStoreNoMemory]++
		c.reply(noreply, "SERVER_ERROR out of memory storing object\r\n")
		if c.swallow(size+2) != nil {
			c.quit = true
		}
		if id == cmdSet {
			c.deleteKey(key)
		}
		return id
	}
	if err != nil {
		c.quit = true
		return id
	}
	defer c.releaseData()
	if data[size] != '\r' || data[size+1] != '\n' {
		c.reply(noreply, "CLIENT_ERROR bad data chunk\r\n")
		return id
	}
	c.st[stCmdSet]++
	res, _ := c.write(key, data[:size], &req)
	switch res {
	case resStored:
		if id == cmdCas {
			c.st[stCasHits]++
		}
		c.reply(noreply, "STORED\r\n")
	case resNotStored:
		c.reply(noreply, "NOT_STORED\r\n")
	case resExists:
		c.st[stCasBadval]++
		c.reply(noreply, "EXISTS\r\n")
	case resNotFound:
		c.st[stCasMisses]++
		c.reply(noreply, "NOT_FOUND\r\n")
	case resTooLarge:
		c.st[stStoreTooLarge]++
		c.reply(noreply, "SERVER_ERROR object too large for cache\r\n")
		if id == cmdSet {
			c.deleteKey(key)
		}
	case resNoMemory:
		c.st[stStoreNoMemory]++
		c.reply(noreply, "SERVER_ERROR out of memory storing object\r\n")
		if id == cmdSet {
			c.deleteKey(key)
		}
	}
	return id
}

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
	if len(key) > wire.MaxKeyLength {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
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
		c.st[stDeleteHits]++
		c.reply(noreply, "DELETED\r\n")
	} else {
		c.st[stDeleteMisses]++
		c.reply(noreply, "NOT_FOUND\r\n")
	}
}

// arithResult is the outcome of incr, decr and ma.
type arithResult uint8

const (
	arithOK arithResult = iota
	arithNotFound
	arithNonNumeric
	arithExists
	arithCreated
	arithNoMemory
)

// arithReq is one incr, decr or ma.
type arithReq struct {
	incr    bool
	delta   uint64
	cas     uint64 // compare when non-zero
	vivify  bool   // ma N: create on miss with initial
	initial uint64
	// expires computes the new item's expiry from the old one (0 for a
	// created item); nil keeps it.
	expires func(old int64, created bool) int64
	setCAS  uint64
}

// applyArith increments or decrements the number stored under key. The new
// number's digits are left in c.num.
func (c *conn) applyArith(key []byte, req *arithReq) (arithResult, store.Meta) {
	res := arithOK
	meta, err := c.s.store.Update(key, func(e *store.Entry) store.Op {
		if !e.Found {
			if !req.vivify {
				res = arithNotFound
				return store.Op{Action: store.Keep}
			}
			res = arithCreated
			c.num = strconv.AppendUint(c.num[:0], req.initial, 10)
			m := store.Meta{CAS: req.setCAS}
			if req.expires != nil {
				m.Expires = req.expires(0, true)
			}
			c.parts[0] = c.num
			return store.Op{Action: store.Put, Meta: m, Value: c.parts[:1]}
		}
		if len(e.Value) == 0 {
			res = arithNonNumeric
			return store.Op{Action: store.Keep, NoBump: true}
		}
		if req.cas != 0 && req.cas != e.Meta.CAS {
			res = arithExists
			return store.Op{Action: store.Keep, NoBump: true}
		}
		v, ok := parseValueNumber(e.Value)
		if !ok {
			res = arithNonNumeric
			return store.Op{Action: store.Keep, NoBump: true}
		}
		switch {
		case req.incr:
			v += req.delta
		case req.delta > v:
			v = 0
		default:
			v -= req.delta
		}
		c.num = strconv.AppendUint(c.num[:0], v, 10)
		m := store.Meta{Flags: e.Meta.Flags, Expires: e.Meta.Expires, CAS: req.setCAS}
		c.scratch = append(c.scratch[:0], c.num...)
		if len(c.num) <= len(e.Value) {
			// memcached rewrites the number in place, padded with spaces,
			// and the item keeps its state.
			for len(c.scratch) < len(e.Value) {
				c.scratch = append(c.scratch, ' ')
			}
			m.Fetched, m.Stale, m.WinSent = e.Meta.Fetched, e.Meta.Stale, e.Meta.WinSent
		}
		if req.expires != nil {
			m.Expires = req.expires(e.Meta.Expires, false)
		}
		c.parts[0] = c.scratch
		return store.Op{Action: store.Put, Meta: m, Value: c.parts[:1]}
	})
	c.parts[0] = nil
	if err != nil {
		return arithNoMemory, meta
	}
	return res, meta
}

// arith serves incr and decr.
func (c *conn) arith(n int, incr bool) {
	if n != 3 && n != 4 {
		c.str("ERROR\r\n")
		return
	}
	noreply := c.noreply(n)
	key := c.toks[1]
	if len(key) > wire.MaxKeyLength {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
	}
	delta, ok := parseUint64(c.toks[2])
	if !ok {
		c.reply(noreply, "CLIENT_ERROR invalid numeric delta argument\r\n")
		return
	}
	req := arithReq{incr: incr, delta: delta}
	res, _ := c.applyArith(key, &req)
	switch res {
	case arithOK:
		if incr {
			c.st[stIncrHits]++
		} else {
			c.st[stDecrHits]++
		}
		if !noreply {
			c.out = append(c.out, c.num...)
			c.str("\r\n")
		}
	case arithNonNumeric:
		c.reply(noreply, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
	case arithNoMemory:
		c.reply(noreply, "SERVER_ERROR out of memory\r\n")
	default:
		if incr {
			c.st[stIncrMisses]++
		} else {
			c.st[stDecrMisses]++
		}
		c.reply(noreply, "NOT_FOUND\r\n")
	}
}

// touch serves touch <key> <exptime> [noreply].
func (c *conn) touch(n int) {
	if n != 3 && n != 4 {
		c.str("ERROR\r\n")
		return
	}
	noreply := c.noreply(n)
	key := c.toks[1]
	if len(key) > wire.MaxKeyLength {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
	}
	exptime, ok := parseInt32(c.toks[2])
	if !ok {
		c.reply(noreply, "CLIENT_ERROR invalid exptime argument\r\n")
		return
	}
	now := c.now().Unix()
	exp := expiry(exptime, now)
	c.st[stCmdTouch]++
	hit := false
	_, _ = c.s.store.Update(key, func(e *store.Entry) store.Op {
		if !e.Found {
			return store.Op{Action: store.Keep}
		}
		hit = true
		m := e.Meta
		m.Expires, m.Accessed, m.Fetched = exp, now, true
		return store.Op{Action: store.SetMeta, Meta: m}
	})
	if hit {
		c.st[stTouchHits]++
		c.reply(noreply, "TOUCHED\r\n")
	} else {
		c.st[stTouchMisses]++
		c.reply(noreply, "NOT_FOUND\r\n")
	}
}

// flushAll serves flush_all [delay] [noreply].
func (c *conn) flushAll(n int) {
	if n < 1 || n > 3 {
		c.str("ERROR\r\n")
		return
	}
	noreply := c.noreply(n)
	c.st[stCmdFlush]++
	var delay int32
	want := 1
	if noreply {
		want = 2
	}
	if n != want {
		d, ok := parseInt32(c.toks[1])
		if !ok {
			c.reply(noreply, "CLIENT_ERROR invalid exptime argument\r\n")
			return
		}
		delay = d
	}
	now := c.now()
	at := now
	if delay > 0 {
		at = time.Unix(expiry(delay, now.Unix()), 0)
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
	if _, ok := parseUint32(c.toks[1]); !ok {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
	}
	c.reply(noreply, "OK\r\n")
}

// memlimit answers cache_memlimit: the store's limit is fixed at start.
func (c *conn) memlimit(n int) {
	if n != 2 && n != 3 {
		c.str("ERROR\r\n")
		return
	}
	noreply := c.noreply(n)
	mb, ok := parseUint32(c.toks[1])
	switch {
	case !ok:
		c.reply(noreply, "ERROR\r\n")
	case mb < 8:
		c.reply(noreply, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n")
	default:
		c.reply(noreply, "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n")
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
		for i := range c.s.stats.v {
			if statID(i) != stTotalConns && statID(i) != stRejectedConns {
				c.s.stats.v[i].Store(0)
			}
		}
		c.str("RESET\r\n")
	case "detail":
		if n < 3 {
			c.str("CLIENT_ERROR usage: stats detail on|off|dump\r\n")
			return
		}
		switch string(c.toks[2]) {
		case "on", "off":
			c.str("OK\r\n")
		case "dump":
			c.str("END\r\n")
		default:
			c.str("CLIENT_ERROR usage: stats detail on|off|dump\r\n")
		}
	case "settings":
		c.settingsStats()
	case "items":
		c.itemsStats()
	case "slabs":
		c.slabsStats()
	case "sizes":
		c.str("STAT sizes_status disabled\r\nEND\r\n")
	case "conns":
		c.str("END\r\n")
	default:
		c.str("ERROR\r\n")
	}
}
