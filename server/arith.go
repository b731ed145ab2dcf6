package server

import (
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
)

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
		c.blind(e)
		var op store.Op
		res, op = c.arithOp(e, req)
		return op
	})
	c.parts[0] = nil
	if cap(c.scratch) > retainedBuffer {
		// Grown for a number padded to a big value: do not keep it.
		c.scratch = make([]byte, 0, 64)
	}
	if err != nil {
		return arithNoMemory, meta
	}
	return res, meta
}

// arithOp decides an incr, decr or ma on the item e found.
func (c *conn) arithOp(e *store.Entry, req *arithReq) (arithResult, store.Op) {
	if !e.Found {
		if !req.vivify {
			return arithNotFound, store.Op{Action: store.Keep}
		}
		return arithCreated, c.arithCreate(req)
	}
	if len(e.Value) == 0 {
		return arithNonNumeric, store.Op{Action: store.Keep, NoBump: true}
	}
	if req.cas != 0 && req.cas != e.Meta.CAS {
		return arithExists, store.Op{Action: store.Keep, NoBump: true}
	}
	v, ok := protocol.ParseCounter(e.Value)
	if !ok {
		return arithNonNumeric, store.Op{Action: store.Keep, NoBump: true}
	}
	switch {
	case req.incr:
		v += req.delta
	case req.delta > v:
		v = 0
	default:
		v -= req.delta
	}
	return arithOK, c.arithStore(e, req, v)
}

// arithCreate stores ma's initial value for a missing item (N).
func (c *conn) arithCreate(req *arithReq) store.Op {
	c.num = strconv.AppendUint(c.num[:0], req.initial, 10)
	m := store.Meta{CAS: req.setCAS}
	if req.expires != nil {
		m.Expires = req.expires(0, true)
	}
	c.parts[0] = c.num
	return store.Op{Action: store.Put, Meta: m, Value: c.parts[:1]}
}

// arithStore stores the new number v over the item e.
func (c *conn) arithStore(e *store.Entry, req *arithReq, v uint64) store.Op {
	c.num = strconv.AppendUint(c.num[:0], v, 10)
	m := store.Meta{Flags: e.Meta.Flags, Expires: e.Meta.Expires, CAS: req.setCAS}
	c.scratch = append(c.scratch[:0], c.num...)
	if len(c.num) <= len(e.Value) {
		// memcached rewrites the number in place, padded with spaces,
		// and the item keeps its state.
		for len(c.scratch) < len(e.Value) {
			c.scratch = append(c.scratch, ' ')
		}
		m.Fetched, m.Stale, m.WinSent, m.KeyBinary = e.Meta.Fetched, e.Meta.Stale, e.Meta.WinSent, e.Meta.KeyBinary
	}
	if req.expires != nil {
		m.Expires = req.expires(e.Meta.Expires, false)
	}
	c.parts[0] = c.scratch
	return store.Op{Action: store.Put, Meta: m, Value: c.parts[:1]}
}

// arith serves incr and decr.
func (c *conn) arith(n int, incr bool) {
	key, noreply, ok := c.keyArgCommand(n)
	if !ok {
		return
	}
	delta, ok := protocol.ParseArgUint64(c.toks[2])
	if !ok {
		c.reply(noreply, "CLIENT_ERROR invalid numeric delta argument\r\n")
		return
	}
	req := arithReq{incr: incr, delta: delta}
	res, _ := c.applyArith(key, &req)
	switch res {
	case arithOK:
		c.countArith(incr, true)
		if !noreply {
			c.out = append(c.out, c.num...)
			c.str("\r\n")
		}
	case arithNonNumeric:
		c.reply(noreply, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
	case arithNoMemory:
		c.reply(noreply, "SERVER_ERROR out of memory\r\n")
	default:
		c.countArith(incr, false)
		c.reply(noreply, "NOT_FOUND\r\n")
	}
}

// countArith counts an incr, decr or ma hit or miss.
func (c *conn) countArith(incr, hit bool) {
	switch {
	case incr && hit:
		c.count(stIncrHits)
	case hit:
		c.count(stDecrHits)
	case incr:
		c.count(stIncrMisses)
	default:
		c.count(stDecrMisses)
	}
}
