package server

import (
	"bytes"
	"strconv"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
)

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
	c.count(stCmdGet)
	hit, room := c.lookup(key, withCAS)
	if !room && c.awaitRoom() {
		hit, room = c.lookup(key, withCAS)
	}
	if hit {
		c.count(stGetHits)
	} else {
		c.count(stGetMisses)
	}
	if c.s.prefixes.on.Load() {
		c.s.prefixes.record(key, prefixGet, hit)
	}
	return room
}

// lookup appends key's VALUE block if it is a hit and there is room for
// it.
func (c *conn) lookup(key []byte, withCAS bool) (hit, room bool) {
	room = true
	// The read is recorded even when the value finds no room.
	hit = c.fence == fenceOpen && c.s.store.Read(key, func(e *store.Entry) bool {
		if room = c.roomForValue(len(e.Value)); !room {
			return true
		}
		c.appendValueHeader(key, &e.Meta, len(e.Value), withCAS)
		c.out = append(c.out, e.Value...)
		c.out = append(c.out, "\r\n"...)
		return true
	})
	return hit, room
}

// noRoomForGet ends a retrieval whose reply cannot be buffered, as
// memcached does when it runs out of memory for a get response.
func (c *conn) noRoomForGet(mark int, flushes uint64) {
	if c.flushes == flushes {
		c.out = c.out[:mark]
	}
	c.count(stStoreNoMemory)
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
	key, rest := protocol.NextToken(rest)
	if len(key) == 0 {
		c.str("ERROR\r\n")
		return
	}
	mark, flushes := len(c.out), c.flushes
	for len(key) > 0 {
		if len(key) > protocol.MaxKeyLength {
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
		key, rest = protocol.NextToken(rest)
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
	tok, rest := protocol.NextToken(rest)
	if len(tok) == 0 {
		c.str("ERROR\r\n")
		return
	}
	exptime, ok := protocol.ParseArgInt32(tok)
	if !ok {
		c.str("CLIENT_ERROR invalid exptime argument\r\n")
		return
	}
	now := c.now().Unix()
	exp := protocol.AbsoluteExpiry(exptime, now)
	mark, flushes := len(c.out), c.flushes
	key, rest := protocol.NextToken(rest)
	for len(key) > 0 {
		if len(key) > protocol.MaxKeyLength {
			c.abortMultiGet(mark, flushes)
			return
		}
		c.count(stCmdTouch)
		hit, room := c.gatKey(key, exp, now, withCAS)
		if !room && c.awaitRoom() {
			hit, room = c.gatKey(key, exp, now, withCAS)
		}
		if !room {
			c.noRoomForGet(mark, flushes)
			return
		}
		if hit {
			c.count(stTouchHits)
		} else {
			c.count(stTouchMisses)
		}
		if c.s.prefixes.on.Load() {
			c.s.prefixes.record(key, prefixGet, hit)
		}
		if !c.flushLarge() {
			return
		}
		key, rest = protocol.NextToken(rest)
	}
	c.str("END\r\n")
}

// gatKey fetches one key of gat or gats and sets its expiry. It reports a
// hit, and false for room when the value cannot be buffered.
func (c *conn) gatKey(key []byte, exp, now int64, withCAS bool) (hit, room bool) {
	room = true
	_, _ = c.s.store.Update(key, func(e *store.Entry) store.Op {
		c.blind(e)
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
	return hit, room
}

// streamGet serves a get or gets line longer than MaxLineLength whose end
// has not arrived: keys are served as they come, so the line never has to
// fit in memory.
func (c *conn) streamGet() cmdID {
	buf, _ := c.r.Peek(c.r.Buffered())
	cmd, rest := protocol.NextToken(buf)
	g := streamedGet{withCAS: string(cmd) == "gets", mark: len(c.out), flushes: c.flushes}
	id := cmdGet
	if g.withCAS {
		id = cmdGets
	}
	_, _ = c.r.Discard(len(buf) - len(rest))
	for {
		buf, _ = c.r.Peek(c.r.Buffered())
		seg, nl := lineSegment(buf)
		used, done := c.streamKeys(&g, seg, nl)
		if done {
			return id
		}
		_, _ = c.r.Discard(used)
		if !c.streamMore() {
			c.quit = true
			return id
		}
	}
}

// streamedGet is the state of a streamed multi-get.
type streamedGet struct {
	withCAS bool
	mark    int    // where its reply starts in c.out
	flushes uint64 // c.flushes when it started
	nkeys   int
}

// lineSegment is the part of buf up to its newline (without "\r\n"), or
// all of it; nl is the newline's index, -1 when it has not arrived.
func lineSegment(buf []byte) (seg []byte, nl int) {
	nl = bytes.IndexByte(buf, '\n')
	if nl < 0 {
		return buf, nl
	}
	seg = buf[:nl]
	if len(seg) > 0 && seg[len(seg)-1] == '\r' {
		seg = seg[:len(seg)-1]
	}
	return seg, nl
}

// streamKeys serves the whole keys in seg. It returns how many bytes of
// seg it used (a key that may go on in data not read yet is left), or done
// when the command is over.
func (c *conn) streamKeys(g *streamedGet, seg []byte, nl int) (used int, done bool) {
	for {
		i, j := tokenBounds(seg, used)
		switch {
		case j-i > protocol.MaxKeyLength:
			c.abortMultiGet(g.mark, g.flushes)
			c.discardLine()
			return 0, true
		case j == len(seg) && nl < 0:
			// The token may go on in data not read yet.
			return i, false
		case i == j:
			c.endStreamedGet(g, nl)
			return 0, true
		case !c.getKey(seg[i:j], g.withCAS):
			c.noRoomForGet(g.mark, g.flushes)
			c.discardLine()
			return 0, true
		case !c.flushLarge():
			return 0, true
		}
		g.nkeys++
		used = j
	}
}

// tokenBounds returns the bounds of the first space-separated token of
// seg at or after from (i == j when there is none).
func tokenBounds(seg []byte, from int) (i, j int) {
	i = from
	for i < len(seg) && seg[i] == ' ' {
		i++
	}
	j = i
	for j < len(seg) && seg[j] != ' ' {
		j++
	}
	return i, j
}

// endStreamedGet consumes the line's end and writes END, or ERROR for a
// line without keys.
func (c *conn) endStreamedGet(g *streamedGet, nl int) {
	_, _ = c.r.Discard(nl + 1)
	if g.nkeys == 0 {
		// Nothing was added to out since mark, which a flush may have
		// moved: leave it alone.
		c.str("ERROR\r\n")
		return
	}
	c.str("END\r\n")
}

// streamMore writes out the replies so far when the read buffer runs low,
// then waits for more of the line. It reports false when the connection
// failed.
func (c *conn) streamMore() bool {
	if c.r.Buffered() < readBufferSize/2 && len(c.out) > 0 {
		if c.flush() != nil {
			return false
		}
	}
	_, err := c.r.Peek(c.r.Buffered() + 1)
	return err == nil
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
