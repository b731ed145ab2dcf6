package server

import (
	"bytes"
	"encoding/binary"

	"github.com/zonecache/zonecache/internal/protocol"
)

// cmdID is the kind a command is counted as, in stats and metrics; its
// name is that of its first entry in commandTable.
type cmdID uint8

const (
	cmdOther cmdID = iota
	cmdGet
	cmdGets
	cmdGat
	cmdGats
	cmdSet
	cmdAdd
	cmdReplace
	cmdAppend
	cmdPrepend
	cmdCas
	cmdDelete
	cmdIncr
	cmdDecr
	cmdTouch
	cmdFlushAll
	cmdMg
	cmdMs
	cmdMd
	cmdMa
	cmdMn
	cmdMe
	cmdStats
	numCmds
)

// command is one entry of the command table.
type command struct {
	name string
	// key is the name's first 8 bytes packed (nameKey): finding a
	// command compares integers, and strings only past 8 bytes.
	key uint64
	id  cmdID
	// get serves a retrieval on the rest of the line, as read: the hot
	// path needs no copy and no token array.
	get func(c *conn, rest []byte)
	// run serves any other command on its tokens, c.toks[:n].
	run func(c *conn, n int)
}

// commandTable lists every command the server knows. Commands that may read
// a data block work on a copy of their line, tokenized.
var commandTable = [...]command{
	{name: "get", id: cmdGet, get: func(c *conn, rest []byte) { c.get(rest, false) }},
	{name: "bget", id: cmdGet, get: func(c *conn, rest []byte) { c.get(rest, false) }},
	{name: "gets", id: cmdGets, get: func(c *conn, rest []byte) { c.get(rest, true) }},
	{name: "gat", id: cmdGat, get: func(c *conn, rest []byte) { c.gat(rest, false) }},
	{name: "gats", id: cmdGats, get: func(c *conn, rest []byte) { c.gat(rest, true) }},
	{name: "set", id: cmdSet, run: func(c *conn, n int) { c.update(n, protocol.ModeSet, false) }},
	{name: "add", id: cmdAdd, run: func(c *conn, n int) { c.update(n, protocol.ModeAdd, false) }},
	{name: "replace", id: cmdReplace, run: func(c *conn, n int) { c.update(n, protocol.ModeReplace, false) }},
	{name: "append", id: cmdAppend, run: func(c *conn, n int) { c.update(n, protocol.ModeAppend, false) }},
	{name: "prepend", id: cmdPrepend, run: func(c *conn, n int) { c.update(n, protocol.ModePrepend, false) }},
	{name: "cas", id: cmdCas, run: func(c *conn, n int) { c.update(n, protocol.ModeSet, true) }},
	{name: "delete", id: cmdDelete, run: (*conn).delete},
	{name: "incr", id: cmdIncr, run: func(c *conn, n int) { c.arith(n, true) }},
	{name: "decr", id: cmdDecr, run: func(c *conn, n int) { c.arith(n, false) }},
	{name: "touch", id: cmdTouch, run: (*conn).touch},
	{name: "flush_all", id: cmdFlushAll, run: (*conn).flushAll},
	{name: "mg", id: cmdMg, run: (*conn).metaGet},
	{name: "ms", id: cmdMs, run: (*conn).metaSet},
	{name: "md", id: cmdMd, run: (*conn).metaDelete},
	{name: "ma", id: cmdMa, run: (*conn).metaArith},
	{name: "mn", id: cmdMn, run: (*conn).metaNoop},
	{name: "me", id: cmdMe, run: (*conn).metaDebug},
	{name: "stats", id: cmdStats, run: (*conn).statsCmd},
	{name: "version", run: (*conn).version},
	{name: "verbosity", run: (*conn).verbosity},
	{name: "quit", run: func(c *conn, _ int) { c.quit = true }},
	{name: "lru_crawler", run: (*conn).lruCrawler},
	{name: "shutdown", run: func(c *conn, _ int) { c.str("ERROR: shutdown not enabled\r\n") }},
	{name: "watch", run: func(c *conn, n int) { c.reply(c.noreply(n), "CLIENT_ERROR watch commands not allowed\r\n") }},
	{name: "cache_memlimit", run: (*conn).memlimit},
	{name: "slabs", run: (*conn).slabs},
	{name: "lru", run: (*conn).lru},
}

// commandIndex finds a command by its first byte, then its packed name: a
// few integer comparisons, cheaper than hashing the name.
var commandIndex = indexCommands()

func indexCommands() (idx [256][]*command) {
	for i := range commandTable {
		e := &commandTable[i]
		e.key = nameKey([]byte(e.name))
		idx[e.name[0]] = append(idx[e.name[0]], e)
	}
	return idx
}

// nameKey packs the first 8 bytes of a command name into an integer, the
// first byte lowest; shorter names are padded with zeros.
func nameKey(name []byte) uint64 {
	if len(name) >= 8 {
		return binary.LittleEndian.Uint64(name)
	}
	if cap(name) >= 8 { // the line goes on: one load, masked
		return binary.LittleEndian.Uint64(name[:8]) & (1<<(8*len(name)) - 1)
	}
	var k uint64
	for i, b := range name {
		k |= uint64(b) << (8 * i)
	}
	return k
}

// cmdNames holds each cmdID's name.
var cmdNames = func() (names [numCmds]string) {
	names[cmdOther] = "other"
	for i := len(commandTable) - 1; i >= 0; i-- {
		if e := &commandTable[i]; e.id != cmdOther {
			names[e.id] = e.name
		}
	}
	return names
}()

func (id cmdID) String() string { return cmdNames[id] }

// lookup returns the command named name, or nil.
func lookup(name []byte) *command {
	k := nameKey(name)
	for _, e := range commandIndex[name[0]] {
		if e.key == k && len(e.name) == len(name) && (len(name) <= 8 || e.name == string(name)) {
			return e
		}
	}
	return nil
}

// isMeta reports whether name is of the meta family (two letters, the first
// an m), known or not.
func isMeta(name []byte) bool { return len(name) == 2 && name[0] == 'm' }

// dispatch executes one command line (with its '\n').
func (c *conn) dispatch(raw []byte) cmdID {
	if !c.authed {
		c.authenticate(raw)
		return cmdOther
	}
	line := protocol.TrimLine(raw)
	if len(line) > 2 && line[2] == ' ' && line[0] != ' ' && line[1] != ' ' {
		// A two-letter name, as the meta commands have: no search.
		if e := lookup(line[:2]); e == nil || e.get == nil {
			return c.run(e, isMeta(line[:2]), line)
		}
	}
	name, rest := protocol.NextToken(line)
	if len(name) < 2 {
		c.str("ERROR\r\n")
		return cmdOther
	}
	e := lookup(name)
	if e != nil && e.get != nil {
		e.get(c, rest)
		return e.id
	}
	return c.run(e, isMeta(name), line)
}

// run executes a command other than a retrieval (e, nil when unknown;
// meta for the meta family) on its tokenized line. Such a command may read
// a data block, which can move the read buffer under the line: it works on
// a copy.
func (c *conn) run(e *command, meta bool, line []byte) cmdID {
	c.line = append(c.line[:0], line...)
	if cap(c.line) > retainedBuffer {
		defer func() { c.line = make([]byte, 0, 256) }()
	}
	n, _ := protocol.Tokenize(c.line, &c.toks)
	if meta {
		if c.s.cfg.DisableMeta {
			// An older memcached does not know the command; a data
			// block that follows is read as further (unknown)
			// commands, as there.
			c.str("ERROR\r\n")
			return cmdOther
		}
		c.count(stCmdMeta)
	}
	if e == nil {
		c.unknown(meta, n)
		return cmdOther
	}
	e.run(c, n)
	return e.id
}

// unknown answers a command not in the table.
func (c *conn) unknown(meta bool, n int) {
	// memcached drops connections that look like HTTP requests.
	if !meta && n > 0 && bytes.HasPrefix(c.toks[n-1], []byte("HTTP/")) {
		c.quit = true
		return
	}
	c.str("ERROR\r\n")
}

// metaNoop serves mn: its reply goes out at once.
func (c *conn) metaNoop(int) {
	c.str("MN\r\n")
	_ = c.flush()
}

func (c *conn) version(int) { c.str("VERSION " + Version + "\r\n") }

// noreply reports whether the command's last token is "noreply".
func (c *conn) noreply(n int) bool {
	return n > 0 && string(c.toks[n-1]) == "noreply"
}

// reply appends s unless the command asked for no reply.
func (c *conn) reply(noreply bool, s string) {
	if !noreply {
		c.str(s)
	}
}
