package server

import (
	"errors"
	"math"

	"github.com/zonecache/zonecache/internal/protocol"
)

// metaSet serves ms: parse, read the value, apply, reply.
func (c *conn) metaSet(n int) {
	var f protocol.MetaFlags
	var req storeReq
	size, ok := c.parseMetaSet(&f, &req, n)
	if !ok {
		return
	}
	data, err := c.readData(size)
	if err != nil {
		c.metaSetNoData(&f, err)
		return
	}
	defer c.releaseData()
	if !dataEnds(data, size) {
		c.errLine("CLIENT_ERROR bad data chunk")
		return
	}
	c.count(stCmdSet)
	res, cas := c.write(f.Key, data[:size], &req)
	c.countWrite(res, req.compare)
	c.replyMetaSet(&f, n, res, cas)
}

// metaSetNoData ends an ms whose value could not be read: past the
// large-value budget (the key is deleted; readData dropped the data) or on a broken
// connection.
func (c *conn) metaSetNoData(f *protocol.MetaFlags, err error) {
	if !errors.Is(err, errNoBuffer) {
		c.quit = true
		return
	}
	c.count(stStoreNoMemory)
	c.deleteKey(f.Key)
	c.errLine("SERVER_ERROR out of memory storing object")
}

// parseMetaSet reads ms's tokens and flags into f and the write they ask
// for into req. For a request it refuses, it writes the error, skips the data block
// and reports false.
func (c *conn) parseMetaSet(f *protocol.MetaFlags, req *storeReq, n int) (size int, ok bool) {
	size, ok = c.metaSetHead(n)
	if !ok {
		return 0, false
	}
	// N<ttl> and s are parsed and then ignored, as memcached 1.6.18 does:
	// an append or prepend to a missing key is NS (no autovivify) and the
	// reply carries no size. Newer memcached versions do both.
	errstr := ""
	if err := f.Parse(c.toks[1], c.toks[3:n], c.now().Unix(), c.keybuf); err != nil {
		errstr = err.Error()
	}
	req.flags, req.expires, req.cas, req.setCAS, req.keyBinary = f.Flags, f.Expires, f.CAS, f.SetCAS, f.KeyBinary
	if errstr == "" {
		errstr = metaSetMode(f, req)
	}
	if errstr == "" && c.itemTooLarge(f.Key, size) {
		c.count(stStoreTooLarge)
		errstr = "SERVER_ERROR object too large for cache"
		c.deleteKey(f.Key)
	}
	if errstr != "" {
		c.errLine(errstr)
		c.skipData(size)
		return 0, false
	}
	if f.HasCAS && (req.mode == protocol.ModeSet || req.mode == protocol.ModeReplace) {
		req.compare = true
		req.stale = f.Invalidate
	}
	return size, true
}

// metaSetHead checks ms's key and number of tokens and reads the value's
// length. When the command ends there it writes the error and reports
// false: no data block is skipped.
func (c *conn) metaSetHead(n int) (size int, ok bool) {
	if n < 2 {
		c.str("ERROR\r\n")
		return 0, false
	}
	if len(c.toks[1]) > protocol.MaxKeyLength || n == 2 {
		c.errLine("CLIENT_ERROR bad command line format")
		return 0, false
	}
	if n+1 > protocol.MaxMetaTokens {
		c.errLine("CLIENT_ERROR options flags too long")
		return 0, false
	}
	vlen, ok := protocol.ParseArgInt32(c.toks[2])
	if !ok || vlen < 0 || vlen > math.MaxInt32-2 {
		c.errLine("CLIENT_ERROR bad command line format")
		return 0, false
	}
	return int(vlen), true
}

// metaSetMode sets the write's mode from M and returns the error line for
// a long opaque or an unknown mode (the mode's error wins).
func metaSetMode(f *protocol.MetaFlags, req *storeReq) string {
	errstr := ""
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
	return errstr
}

// replyMetaSet writes ms's reply; cas is the stored item's.
func (c *conn) replyMetaSet(f *protocol.MetaFlags, n int, res storeResult, cas uint64) {
	var code string
	switch res {
	case resStored:
		if f.NoReply {
			return
		}
		code = "HD"
	case resNotStored:
		code = "NS"
	case resExists:
		code = "EX"
	case resNotFound:
		code = "NF"
	case resIsolated:
		c.errLine(isolatedError)
		return
	default:
		c.deleteKey(f.Key)
		c.errLine(writeError(res))
		return
	}
	c.str(code)
	if res != resStored {
		cas = 0
	}
	for _, t := range c.toks[3:n] {
		switch t[0] {
		case 'O':
			c.appendToken(t)
		case 'k':
			c.appendKeyFlag(f)
		case 'c':
			c.appendUintFlag(" c", cas)
		}
	}
	c.str("\r\n")
}
