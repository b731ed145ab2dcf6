package server

import (
	"bytes"

	"github.com/zonecache/zonecache/internal/protocol"
)

// cmdID names a command for metrics.
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

func (id cmdID) String() string {
	switch id {
	case cmdGet:
		return "get"
	case cmdGets:
		return "gets"
	case cmdGat:
		return "gat"
	case cmdGats:
		return "gats"
	case cmdSet:
		return "set"
	case cmdAdd:
		return "add"
	case cmdReplace:
		return "replace"
	case cmdAppend:
		return "append"
	case cmdPrepend:
		return "prepend"
	case cmdCas:
		return "cas"
	case cmdDelete:
		return "delete"
	case cmdIncr:
		return "incr"
	case cmdDecr:
		return "decr"
	case cmdTouch:
		return "touch"
	case cmdFlushAll:
		return "flush_all"
	case cmdMg:
		return "mg"
	case cmdMs:
		return "ms"
	case cmdMd:
		return "md"
	case cmdMa:
		return "ma"
	case cmdMn:
		return "mn"
	case cmdMe:
		return "me"
	case cmdStats:
		return "stats"
	}
	return "other"
}

// dispatch executes one command line (with its '\n').
func (c *conn) dispatch(raw []byte) cmdID {
	line := protocol.TrimLine(raw)
	cmd, rest := protocol.NextToken(line)
	if len(cmd) < 2 {
		c.str("ERROR\r\n")
		return cmdOther
	}
	// Retrieval first: the hot path needs no copy and no token array.
	if cmd[0] == 'g' || cmd[0] == 'b' {
		switch string(cmd) {
		case "get", "bget":
			c.get(rest, false)
			return cmdGet
		case "gets":
			c.get(rest, true)
			return cmdGets
		case "gat":
			c.gat(rest, false)
			return cmdGat
		case "gats":
			c.gat(rest, true)
			return cmdGats
		}
	}
	// Every other command may read a data block, which can move the read
	// buffer under the line: work on a copy.
	c.line = append(c.line[:0], line...)
	if cap(c.line) > retainedBuffer {
		defer func() { c.line = make([]byte, 0, 256) }()
	}
	n, _ := protocol.Tokenize(c.line, &c.toks)
	if cmd[0] == 'm' && len(cmd) == 2 && c.s.cfg.DisableMeta {
		// An older memcached does not know the command; a data block
		// that follows is read as further (unknown) commands, as there.
		c.str("ERROR\r\n")
		return cmdOther
	}
	if cmd[0] == 'm' && len(cmd) == 2 {
		c.st[stCmdMeta]++
		switch cmd[1] {
		case 'g':
			c.metaGet(n)
			return cmdMg
		case 's':
			c.metaSet(n)
			return cmdMs
		case 'd':
			c.metaDelete(n)
			return cmdMd
		case 'a':
			c.metaArith(n)
			return cmdMa
		case 'n':
			c.str("MN\r\n")
			_ = c.flush()
			return cmdMn
		case 'e':
			c.metaDebug(n)
			return cmdMe
		}
		c.str("ERROR\r\n")
		return cmdOther
	}
	switch string(cmd) {
	case "set":
		return c.update(n, cmdSet)
	case "add":
		return c.update(n, cmdAdd)
	case "replace":
		return c.update(n, cmdReplace)
	case "append":
		return c.update(n, cmdAppend)
	case "prepend":
		return c.update(n, cmdPrepend)
	case "cas":
		return c.update(n, cmdCas)
	case "delete":
		c.delete(n)
		return cmdDelete
	case "incr":
		c.arith(n, true)
		return cmdIncr
	case "decr":
		c.arith(n, false)
		return cmdDecr
	case "touch":
		c.touch(n)
		return cmdTouch
	case "flush_all":
		c.flushAll(n)
		return cmdFlushAll
	case "version":
		c.str("VERSION " + Version + "\r\n")
		return cmdOther
	case "verbosity":
		c.verbosity(n)
		return cmdOther
	case "quit":
		c.quit = true
		return cmdOther
	case "stats":
		c.statsCmd(n)
		return cmdStats
	case "lru_crawler":
		c.lruCrawler(n)
		return cmdOther
	case "shutdown":
		c.str("ERROR: shutdown not enabled\r\n")
		return cmdOther
	case "watch":
		c.reply(c.noreply(n), "CLIENT_ERROR watch commands not allowed\r\n")
		return cmdOther
	case "cache_memlimit":
		c.memlimit(n)
		return cmdOther
	case "slabs":
		c.slabs(n)
		return cmdOther
	case "lru":
		c.lru(n)
		return cmdOther
	}
	// memcached drops connections that look like HTTP requests.
	if n > 0 && bytes.HasPrefix(c.toks[n-1], []byte("HTTP/")) {
		c.quit = true
		return cmdOther
	}
	c.str("ERROR\r\n")
	return cmdOther
}

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
