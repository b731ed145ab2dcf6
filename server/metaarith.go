package server

import (
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
)

// maRequest is one ma: its flags (c.toks[2:n]), the arithmetic they ask
// for and the expiry the item had before it.
type maRequest struct {
	f      protocol.MetaFlags
	n      int
	now    int64
	arith  arithReq
	before int64
}

// metaArith serves ma: parse, apply, reply.
func (c *conn) metaArith(n int) {
	r := maRequest{n: n}
	if !c.parseMetaArith(&r) {
		return
	}
	r.arith.expires = func(old int64, created bool) int64 {
		r.before = old
		return expiryInOrder(&r.f, c.toks[2:n], old, created)
	}
	res, meta := c.applyArith(r.f.Key, &r.arith)
	c.replyMetaArith(&r, res, meta.CAS)
}

// parseMetaArith reads ma's flags and mode. When the command ends there it
// writes the error and reports false.
func (c *conn) parseMetaArith(r *maRequest) bool {
	now, ok := c.metaHead(r.n, &r.f, "CLIENT_ERROR options flags too long", "CLIENT_ERROR invalid or duplicate flag")
	if !ok {
		return false
	}
	f := &r.f
	r.now = now
	r.arith = arithReq{incr: true, delta: f.Delta, vivify: f.Vivify, initial: f.Initial, setCAS: f.SetCAS}
	switch f.Mode {
	case 0, protocol.ModeIncr, '+':
	case protocol.ModeDecr, '-':
		r.arith.incr = false
	default:
		c.errLine("CLIENT_ERROR invalid mode for ma M token")
		return false
	}
	if f.LongOpaque {
		c.errLine("CLIENT_ERROR opaque token too long")
		return false
	}
	if f.HasCAS {
		r.arith.cas = f.CAS
	}
	return true
}

// expiryInOrder is the expiry mg and ma give an item that had old: T and
// N change it in request order, as memcached does, N only for an item the
// request creates.
func expiryInOrder(f *protocol.MetaFlags, flags [][]byte, old int64, created bool) int64 {
	exp := old
	for _, t := range flags {
		switch t[0] {
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

// replyMetaArith counts ma and writes its reply; cas is the item's.
func (c *conn) replyMetaArith(r *maRequest, res arithResult, cas uint64) {
	switch res {
	case arithOK, arithCreated:
		c.countArith(r.arith.incr, true)
		if res == arithOK && r.f.NoReply {
			return
		}
		c.replyMetaArithValue(r, res == arithCreated, cas)
	case arithNonNumeric:
		c.errLine("CLIENT_ERROR cannot increment or decrement non-numeric value")
	case arithNoMemory:
		c.errLine("SERVER_ERROR out of memory")
	case arithNotFound:
		c.countArith(r.arith.incr, false)
		c.str("NF")
		c.appendOpaqueAndKey(&r.f, 2, r.n)
		c.str("\r\n")
	case arithExists:
		c.str("EX")
		c.appendOpaqueAndKey(&r.f, 2, r.n)
		c.str("\r\n")
	}
}

// replyMetaArithValue writes HD, or VA and the new number, with the return
// flags in request order: a t before T or N shows the old TTL.
func (c *conn) replyMetaArithValue(r *maRequest, created bool, cas uint64) {
	if r.f.Value {
		c.str("VA ")
		c.out = strconv.AppendInt(c.out, int64(len(c.num)), 10)
	} else {
		c.str("HD")
	}
	exp := r.before
	for _, t := range c.toks[2:r.n] {
		switch t[0] {
		case 'c':
			c.appendUintFlag(" c", cas)
		case 't':
			c.appendTTL(exp, r.now)
		case 'T':
			exp = r.f.Expires
		case 'N':
			if created {
				exp = r.f.VivifyTTL
			}
		case 'O':
			c.appendToken(t)
		case 'k':
			c.appendKeyFlag(&r.f)
		}
	}
	c.str("\r\n")
	if r.f.Value {
		c.out = append(c.out, c.num...)
		c.str("\r\n")
	}
}
