package server

import (
	"errors"
	"math"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
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
	// resIsolated: the node is cut off from its fleet and takes no
	// writes, which it could neither serve nor keep (see fence).
	resIsolated
)

// isolatedError answers a write refused while the node is cut off.
const isolatedError = "SERVER_ERROR node cut off from its fleet"

// storeReq is one write: what storage commands and ms share.
type storeReq struct {
	mode byte // protocol.ModeSet, ModeAdd, ModeReplace, ModeAppend or ModePrepend
	// compare: a set or replace that must match cas (the cas command, ms
	// with C); a missing item is not found.
	compare bool
	flags   uint32
	expires int64
	cas     uint64 // compare: cas command, ms C
	stale   bool   // ms I with C: accept an older CAS and keep the item stale
	setCAS  uint64 // ms E: the CAS unique the new item gets; 0 = next
	// keyBinary: the key came base64-encoded (ms b). The new item remembers
	// it, except after an append or prepend, as in memcached.
	keyBinary bool
}

// write applies a storage request with memcached's semantics; cas is the
// stored item's. It returns the CAS alone, not the item's metadata:
// copying a returned store.Meta stalls on its byte-wide fields.
func (c *conn) write(key, value []byte, req *storeReq) (res storeResult, cas uint64) {
	if c.fence == fenceIsolated {
		return resIsolated, 0
	}
	if req.mode == protocol.ModeSet && !req.compare { // the hot path: no look at the item
		cas, err := c.s.store.Set(key, req.newMeta(), value)
		if err != nil {
			return writeFailure(err, req), 0
		}
		return resStored, cas
	}
	res = resStored
	meta, err := c.s.store.Update(key, func(e *store.Entry) store.Op {
		var op store.Op
		res, op = c.writeOp(e, value, req)
		return op
	})
	c.parts[0], c.parts[1] = nil, nil
	if err != nil {
		return writeFailure(err, req), meta.CAS
	}
	return res, meta.CAS
}

// writeOp decides a write on the item e found.
func (c *conn) writeOp(e *store.Entry, value []byte, req *storeReq) (storeResult, store.Op) {
	switch {
	case req.compare:
		return c.writeCAS(e, value, req)
	case req.mode == protocol.ModeAdd && e.Found:
		return resNotStored, store.Op{Action: store.Keep, NoBump: true}
	case req.mode == protocol.ModeReplace && !e.Found:
		return resNotStored, store.Op{Action: store.Keep}
	case req.mode == protocol.ModeAppend, req.mode == protocol.ModePrepend:
		return c.writeConcat(e, value, req)
	}
	return resStored, c.put(req.newMeta(), value)
}

// writeCAS decides a set or replace that compares CAS values. With ms I an
// older CAS is accepted: the value is replaced but the item stays stale,
// with its TTL and win token.
func (c *conn) writeCAS(e *store.Entry, value []byte, req *storeReq) (storeResult, store.Op) {
	if !e.Found {
		return resNotFound, store.Op{Action: store.Keep}
	}
	m := req.newMeta()
	if req.cas == 0 || req.cas != e.Meta.CAS {
		if !req.stale || req.cas == 0 || req.cas > e.Meta.CAS {
			return resExists, store.Op{Action: store.Keep, NoBump: true}
		}
		m.Expires, m.Stale, m.WinSent = e.Meta.Expires, true, e.Meta.WinSent
	}
	return resStored, c.put(m, value)
}

// writeConcat decides an append or prepend: the item keeps its flags and
// expiry, and forgets a binary key.
func (c *conn) writeConcat(e *store.Entry, value []byte, req *storeReq) (storeResult, store.Op) {
	if !e.Found {
		return resNotStored, store.Op{Action: store.Keep}
	}
	if req.cas != 0 && req.cas != e.Meta.CAS {
		return resExists, store.Op{Action: store.Keep, NoBump: true}
	}
	m := req.newMeta()
	m.Flags, m.Expires, m.KeyBinary = e.Meta.Flags, e.Meta.Expires, false
	if req.mode == protocol.ModeAppend {
		c.parts[0], c.parts[1] = e.Value, value
	} else {
		c.parts[0], c.parts[1] = value, e.Value
	}
	return resStored, store.Op{Action: store.Put, Meta: m, Value: c.parts[:2]}
}

// put stores value as the item's whole value.
func (c *conn) put(m store.Meta, value []byte) store.Op {
	c.parts[0], c.parts[1] = value, nil
	return store.Op{Action: store.Put, Meta: m, Value: c.parts[:1]}
}

// newMeta is the metadata of the item the request writes.
func (req *storeReq) newMeta() store.Meta {
	return store.Meta{Flags: req.flags, Expires: req.expires, CAS: req.setCAS, KeyBinary: req.keyBinary}
}

// writeFailure is the result of a write the store refused: an append or
// prepend that grew too large is not stored, as in memcached.
func writeFailure(err error, req *storeReq) storeResult {
	switch {
	case !errors.Is(err, store.ErrTooLarge):
		return resNoMemory
	case req.mode == protocol.ModeAppend || req.mode == protocol.ModePrepend:
		return resNotStored
	}
	return resTooLarge
}

// countWrite counts a write's result in the stats.
func (c *conn) countWrite(res storeResult, compare bool) {
	switch res {
	case resStored:
		if compare {
			c.count(stCasHits)
		}
	case resExists:
		c.count(stCasBadval)
	case resNotFound:
		c.count(stCasMisses)
	case resTooLarge:
		c.count(stStoreTooLarge)
	case resNoMemory:
		c.count(stStoreNoMemory)
	}
}

// writeError is the error line of a write the store refused.
func writeError(res storeResult) string {
	if res == resTooLarge {
		return "SERVER_ERROR object too large for cache"
	}
	return "SERVER_ERROR out of memory storing object"
}

// itemTooLarge reports whether an item with this key and value length can
// never be stored.
func (c *conn) itemTooLarge(key []byte, vlen int) bool {
	return store.LimitedSize(len(key), vlen) > c.s.cfg.MaxItemSize
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

// dataEnds reports whether a data block of size bytes ends with "\r\n".
func dataEnds(data []byte, size int) bool {
	return data[size] == '\r' && data[size+1] == '\n'
}

// skipData drops the data block of a command refused before reading it; a
// failed read ends the connection.
func (c *conn) skipData(size int) {
	if c.swallow(size+2) != nil {
		c.quit = true
	}
}

// textStore is one set, add, replace, append, prepend or cas.
type textStore struct {
	req     storeReq
	key     []byte
	size    int
	noreply bool
	// isSet: a failed set deletes the key, as memcached does.
	isSet bool
}

// update serves set, add, replace, append and prepend (mode) and cas
// (compare): parse, read the value, apply, reply.
func (c *conn) update(n int, mode byte, compare bool) {
	w := textStore{isSet: mode == protocol.ModeSet && !compare}
	if !c.parseUpdate(&w, n, mode, compare) {
		return
	}
	if c.s.prefixes.on.Load() {
		c.s.prefixes.record(w.key, prefixSet, false)
	}
	if c.itemTooLarge(w.key, w.size) {
		c.count(stStoreTooLarge)
		c.reply(w.noreply, "SERVER_ERROR object too large for cache\r\n")
		c.skipData(w.size)
		c.failedSet(&w)
		return
	}
	data, err := c.readData(w.size)
	if err != nil {
		c.updateNoData(&w, err)
		return
	}
	defer c.releaseData()
	if !dataEnds(data, w.size) {
		c.reply(w.noreply, "CLIENT_ERROR bad data chunk\r\n")
		return
	}
	c.count(stCmdSet)
	res, _ := c.write(w.key, data[:w.size], &w.req)
	c.countWrite(res, compare)
	c.replyUpdate(&w, res)
}

// parseUpdate reads a storage command's tokens into w. When the command
// ends there it writes the error and reports false.
func (c *conn) parseUpdate(w *textStore, n int, mode byte, compare bool) bool {
	want := 5
	if compare {
		want = 6
	}
	if n != want && n != want+1 {
		c.str("ERROR\r\n")
		return false
	}
	w.noreply = c.noreply(n)
	w.key = c.toks[1]
	flags, ok1 := protocol.ParseArgUint32(c.toks[2])
	exptime, ok2 := protocol.ParseArgInt32(c.toks[3])
	vlen, ok3 := protocol.ParseArgInt32(c.toks[4])
	var ok4 = true
	if compare {
		w.req.cas, ok4 = protocol.ParseArgUint64(c.toks[5])
	}
	if len(w.key) > protocol.MaxKeyLength || !ok1 || !ok2 || !ok3 || !ok4 || vlen < 0 || vlen > math.MaxInt32-2 {
		c.reply(w.noreply, "CLIENT_ERROR bad command line format\r\n")
		return false
	}
	w.req.mode, w.req.compare, w.req.flags = mode, compare, flags
	w.req.expires = protocol.AbsoluteExpiry(exptime, c.now().Unix())
	w.size = int(vlen)
	return true
}

// updateNoData ends a storage command whose value could not be read: past
// the large-value budget (readData dropped the data) or on a broken
// connection.
func (c *conn) updateNoData(w *textStore, err error) {
	if !errors.Is(err, errNoBuffer) {
		c.quit = true
		return
	}
	c.count(stStoreNoMemory)
	c.reply(w.noreply, "SERVER_ERROR out of memory storing object\r\n")
	c.failedSet(w)
}

// failedSet deletes the key of a set that failed, as memcached does.
func (c *conn) failedSet(w *textStore) {
	if w.isSet {
		c.deleteKey(w.key)
	}
}

// replyUpdate writes a storage command's reply.
func (c *conn) replyUpdate(w *textStore, res storeResult) {
	switch res {
	case resStored:
		c.reply(w.noreply, "STORED\r\n")
	case resNotStored:
		c.reply(w.noreply, "NOT_STORED\r\n")
	case resExists:
		c.reply(w.noreply, "EXISTS\r\n")
	case resNotFound:
		c.reply(w.noreply, "NOT_FOUND\r\n")
	case resIsolated:
		c.reply(w.noreply, isolatedError+"\r\n")
	default:
		if !w.noreply {
			c.errLine(writeError(res))
		}
		c.failedSet(w)
	}
}
