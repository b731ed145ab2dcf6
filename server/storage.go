package server

import (
	"errors"
	"math"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/store"
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
	mode    byte // protocol.ModeSet, ModeAdd, ModeReplace, ModeAppend or ModePrepend
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

// write applies a storage request with memcached's semantics.
func (c *conn) write(key, value []byte, req *storeReq) (storeResult, store.Meta) {
	if c.fenced {
		return resIsolated, store.Meta{}
	}
	res := resStored
	meta, err := c.s.store.Update(key, func(e *store.Entry) store.Op {
		c.blind(e)
		newMeta := store.Meta{Flags: req.flags, Expires: req.expires, CAS: req.setCAS, KeyBinary: req.keyBinary}
		c.parts[0], c.parts[1] = value, nil
		parts := c.parts[:1]
		switch {
		case req.compare:
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
		case req.mode == protocol.ModeAdd:
			if e.Found {
				res = resNotStored
				return store.Op{Action: store.Keep, NoBump: true}
			}
		case req.mode == protocol.ModeReplace:
			if !e.Found {
				res = resNotStored
				return store.Op{Action: store.Keep}
			}
		case req.mode == protocol.ModeAppend, req.mode == protocol.ModePrepend:
			if !e.Found {
				res = resNotStored
				return store.Op{Action: store.Keep}
			}
			if req.cas != 0 && req.cas != e.Meta.CAS {
				res = resExists
				return store.Op{Action: store.Keep, NoBump: true}
			}
			newMeta.Flags, newMeta.Expires, newMeta.KeyBinary = e.Meta.Flags, e.Meta.Expires, false
			if req.mode == protocol.ModeAppend {
				c.parts[0], c.parts[1] = e.Value, value
			} else {
				c.parts[0], c.parts[1] = value, e.Value
			}
			parts = c.parts[:2]
		}
		res = resStored
		return store.Op{Action: store.Put, Meta: newMeta, Value: parts}
	})
	c.parts[0], c.parts[1] = nil, nil
	if err != nil {
		switch {
		case errors.Is(err, store.ErrTooLarge):
			if req.mode == protocol.ModeAppend || req.mode == protocol.ModePrepend {
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

// update serves set, add, replace, append and prepend (mode) and cas
// (compare).
func (c *conn) update(n int, mode byte, compare bool) {
	want := 5
	if compare {
		want = 6
	}
	isSet := mode == protocol.ModeSet && !compare
	if n != want && n != want+1 {
		c.str("ERROR\r\n")
		return
	}
	noreply := c.noreply(n)
	key := c.toks[1]
	if len(key) > protocol.MaxKeyLength {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
	}
	flags, ok1 := protocol.ParseArgUint32(c.toks[2])
	exptime, ok2 := protocol.ParseArgInt32(c.toks[3])
	vlen, ok3 := protocol.ParseArgInt32(c.toks[4])
	if !ok1 || !ok2 || !ok3 {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
	}
	req := storeReq{mode: mode, compare: compare, flags: flags, expires: protocol.AbsoluteExpiry(exptime, c.now().Unix())}
	if compare {
		cas, ok := protocol.ParseArgUint64(c.toks[5])
		if !ok {
			c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
			return
		}
		req.cas = cas
	}
	if vlen < 0 || vlen > math.MaxInt32-2 {
		c.reply(noreply, "CLIENT_ERROR bad command line format\r\n")
		return
	}
	size := int(vlen)
	if c.itemTooLarge(key, size) {
		c.st[stStoreTooLarge]++
		c.reply(noreply, "SERVER_ERROR object too large for cache\r\n")
		if c.swallow(size+2) != nil {
			c.quit = true
		}
		if isSet {
			c.deleteKey(key)
		}
		return
	}
	data, err := c.readData(size)
	if errors.Is(err, errNoBuffer) {
		c.st[stStoreNoMemory]++
		c.reply(noreply, "SERVER_ERROR out of memory storing object\r\n")
		if c.swallow(size+2) != nil {
			c.quit = true
		}
		if isSet {
			c.deleteKey(key)
		}
		return
	}
	if err != nil {
		c.quit = true
		return
	}
	defer c.releaseData()
	if data[size] != '\r' || data[size+1] != '\n' {
		c.reply(noreply, "CLIENT_ERROR bad data chunk\r\n")
		return
	}
	c.st[stCmdSet]++
	res, _ := c.write(key, data[:size], &req)
	switch res {
	case resStored:
		if compare {
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
		if isSet {
			c.deleteKey(key)
		}
	case resNoMemory:
		c.st[stStoreNoMemory]++
		c.reply(noreply, "SERVER_ERROR out of memory storing object\r\n")
		if isSet {
			c.deleteKey(key)
		}
	case resIsolated:
		c.reply(noreply, isolatedError+"\r\n")
	}
}
