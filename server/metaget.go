package server

import (
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
)

// mgRequest is one mg: its flags (c.toks[2:n]) and what applying it found.
type mgRequest struct {
	f   protocol.MetaFlags
	n   int
	now int64
	// room is false when a hit's value could not be buffered.
	hit, created, ttlSet, room bool
}

// metaGet serves mg: parse, apply (the store operation below, which writes
// a hit's reply while the item is held), reply (for a miss, an error or a
// created item).
func (c *conn) metaGet(n int) {
	r := mgRequest{n: n, room: true}
	if !c.parseMetaGet(&r) {
		return
	}
	cas, err := c.applyMetaGet(&r)
	if !r.room && c.awaitRoom() {
		r.room = true
		cas, err = c.applyMetaGet(&r)
	}
	c.replyMetaGet(&r, cas, err)
}

// applyMetaGet is mg's store operation: it writes a hit's reply while the
// item is held, unless its value finds no room (r.room false, nothing
// done). It returns the CAS of an item it created. An mg whose flags do not
// change the item (no T, N or R: an R0 never wins) is a Read; the other
// ones, and those a Read declines, an Update.
func (c *conn) applyMetaGet(r *mgRequest) (cas uint64, err error) {
	if !r.f.HasTTL && !r.f.Vivify && r.f.RecacheTTL == 0 && c.fence == fenceOpen && c.readMetaGet(r) {
		return 0, nil
	}
	m, err := c.updateMetaGet(r)
	return m.CAS, err
}

// readMetaGet is mg's store operation as a Read, for an mg that changes no
// item: the Update's, less the callback's Op and the Meta returned. It
// reports false, having done nothing, for a hit that wins a recache (a
// stale item): a win is written to the item, which only an Update does.
func (c *conn) readMetaGet(r *mgRequest) (done bool) {
	done = true
	c.s.store.Read(r.f.Key, func(e *store.Entry) bool {
		if e.Meta.Stale && !e.Meta.WinSent {
			done = false
			return false
		}
		if r.f.Value {
			if r.room = c.roomForValue(len(e.Value)); !r.room {
				return false
			}
		}
		r.hit = true
		// Without T, R or a win, the reply changes no metadata.
		c.replyMetaGetHit(r, e, &e.Meta)
		return !r.f.NoUpdate
	})
	return done
}

// updateMetaGet is mg's store operation as an Update.
func (c *conn) updateMetaGet(r *mgRequest) (store.Meta, error) {
	return c.s.store.Update(r.f.Key, func(e *store.Entry) store.Op {
		c.blind(e)
		if !e.Found {
			return c.vivify(r)
		}
		if r.f.Value {
			if r.room = c.roomForValue(len(e.Value)); !r.room {
				return store.Op{Action: store.Keep, NoBump: true}
			}
		}
		r.hit = true
		m := e.Meta
		if won := c.replyMetaGetHit(r, e, &m); r.ttlSet || won {
			return r.hitOp(m)
		}
		// Written here, not returned from an inlined helper: copying
		// that helper's result stalls on its byte-wide fields.
		return store.Op{Action: store.Keep, NoBump: r.f.NoUpdate}
	})
}

// parseMetaGet reads mg's flags; it writes the error and reports false for
// a malformed request.
func (c *conn) parseMetaGet(r *mgRequest) bool {
	now, ok := c.metaHead(r.n, &r.f, "CLIENT_ERROR options flags are too long", "")
	if !ok {
		return false
	}
	if r.f.LongOpaque {
		c.errLine("CLIENT_ERROR opaque token too long")
		return false
	}
	r.now = now
	return true
}

// vivify is mg's store operation on a miss: with N it creates an empty
// item whose win token this request holds.
func (c *conn) vivify(r *mgRequest) store.Op {
	if !r.f.Vivify {
		return store.Op{Action: store.Keep}
	}
	r.created = true
	m := store.Meta{Expires: expiryInOrder(&r.f, c.toks[2:r.n], 0, true), CAS: r.f.SetCAS, WinSent: true, Fetched: !r.f.NoUpdate}
	return store.Op{Action: store.Put, Meta: m}
}

// hitOp is mg's store operation on a hit whose T or won recache changed
// the item's metadata to m.
func (r *mgRequest) hitOp(m store.Meta) store.Op {
	if !r.f.NoUpdate {
		m.Accessed, m.Fetched = r.now, true
	}
	return store.Op{Action: store.SetMeta, Meta: m}
}

// replyMetaGetHit writes a hit's reply. m is the item's new metadata: T
// and a won recache change it. It reports whether this request won.
func (c *conn) replyMetaGetHit(r *mgRequest, e *store.Entry, m *store.Meta) (won bool) {
	if r.f.Value {
		c.out = append(c.out, "VA "...)
		c.out = strconv.AppendInt(c.out, int64(len(e.Value)), 10)
	} else {
		c.out = append(c.out, "HD"...)
	}
	won = c.appendHitFlags(r, e, m)
	won = c.appendWinFlags(m, won)
	c.out = append(c.out, "\r\n"...)
	if r.f.Value {
		c.out = append(c.out, e.Value...)
		c.out = append(c.out, "\r\n"...)
	}
	return won
}

// appendHitFlags writes a hit's return flags in request order; T and R act
// where they stand, so a t before T shows the old TTL, as in memcached.
func (c *conn) appendHitFlags(r *mgRequest, e *store.Entry, m *store.Meta) (won bool) {
	for _, t := range c.toks[2:r.n] {
		switch t[0] {
		case 'T':
			r.ttlSet = true
			m.Expires = r.f.Expires
		case 'R':
			won = won || recacheWins(m, r.f.RecacheTTL)
		case 's':
			c.appendIntFlag(" s", int64(len(e.Value)))
		case 't':
			c.appendTTL(m.Expires, r.now)
		case 'c':
			c.appendUintFlag(" c", m.CAS)
		case 'f':
			c.appendUintFlag(" f", uint64(m.Flags))
		case 'l':
			c.appendIntFlag(" l", r.now-e.Meta.Accessed)
		case 'h':
			c.appendBoolFlag(" h", e.Meta.Fetched)
		case 'O':
			c.appendToken(t)
		case 'k':
			c.appendItemKeyFlag(r.f.Key, e.Meta.KeyBinary)
		}
	}
	return won
}

// recacheWins reports whether mg R wins the right to recache an item: its
// TTL left is below R's and no other client has won it.
func recacheWins(m *store.Meta, recache int64) bool {
	return !m.WinSent && m.Expires != 0 && m.Expires < recache
}

// appendWinFlags writes Z (a win was already handed out), X (the item is
// stale) and W (this request wins, which m records).
func (c *conn) appendWinFlags(m *store.Meta, won bool) bool {
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
	return won
}

// replyMetaGet counts mg and writes the replies not written while the
// item was held: errors, a created item's and a miss's.
func (c *conn) replyMetaGet(r *mgRequest, cas uint64, err error) {
	if r.ttlSet {
		c.count(stCmdTouch)
	} else {
		c.count(stCmdGet)
	}
	switch {
	case !r.room:
		c.count(stStoreNoMemory)
		c.errLine("SERVER_ERROR out of memory writing get response")
	case r.created && err != nil:
		c.errLine("SERVER_ERROR out of memory storing object")
	case r.created:
		c.count(stGetHits)
		c.metaGetCreated(&r.f, r.n, cas, r.now)
	case r.hit && r.ttlSet:
		c.count(stTouchHits)
	case r.hit:
		c.count(stGetHits)
	default:
		c.replyMetaGetMiss(r)
	}
}

// replyMetaGetMiss counts a miss and writes EN unless q.
func (c *conn) replyMetaGetMiss(r *mgRequest) {
	if r.ttlSet {
		c.count(stTouchMisses)
	} else {
		c.count(stGetMisses)
	}
	if !r.f.NoReply {
		c.out = append(c.out, "EN"...)
		c.appendOpaqueAndKey(&r.f, 2, r.n)
		c.out = append(c.out, "\r\n"...)
	}
}

// metaGetCreated writes the reply for an item mg N just created.
func (c *conn) metaGetCreated(f *protocol.MetaFlags, n int, cas uint64, now int64) {
	if f.Value {
		c.out = append(c.out, "VA 0"...)
	} else {
		c.out = append(c.out, "HD"...)
	}
	var exp int64
	for _, t := range c.toks[2:n] {
		switch t[0] {
		case 'T':
			exp = f.Expires
		case 'N':
			exp = f.VivifyTTL
		case 's':
			c.out = append(c.out, " s0"...)
		case 't':
			c.appendTTL(exp, now)
		case 'c':
			c.appendUintFlag(" c", cas)
		case 'f':
			c.out = append(c.out, " f0"...)
		case 'l':
			c.out = append(c.out, " l0"...)
		case 'h':
			c.out = append(c.out, " h0"...)
		case 'O':
			c.appendToken(t)
		case 'k':
			// The item mg created does not remember a binary key.
			c.appendItemKeyFlag(f.Key, false)
		}
	}
	c.out = append(c.out, " W\r\n"...)
	if f.Value {
		c.out = append(c.out, "\r\n"...)
	}
}
