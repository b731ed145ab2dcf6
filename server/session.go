package server

import (
	"bytes"
	"errors"
	"io"

	"github.com/zonecache/zonecache/internal/protocol"
)

// rawConnIO is raw I/O on a socket (rawIO) that can also serve commands
// inside one wait for the socket, so that it waits for input without first
// reading an empty socket.
//
// Go's poller forgets, when a read starts, whether the socket became
// readable before: a read must try the socket first. Inside serve the
// poller's flag is reset once, and the connection waits once a read found
// the socket empty: data that came since wakes it. In an event loop, whose
// wait is level-triggered, a read that returns less than it asked for
// drained the socket too, which saves the read that would find it empty
// after each request (a system call per request, the most costly part of
// a small request after the reply's write). On a goroutine it does not: a
// peer's end of stream that arrived before that read is only seen by the
// next one, and the poller, edge-triggered, would not wake serve for it.
type rawConnIO interface {
	io.ReadWriter
	// serve calls step each time the socket may have become readable,
	// until step returns true. Meanwhile Read does not wait: it returns
	// errWouldBlock, and step returns false to wait.
	serve(step func() bool) error
	// drained reports whether, within serve, the socket was found empty
	// (in an event loop, read short) by the last read and nothing has
	// woken serve since.
	drained() bool
}

// errWouldBlock is Read's answer within rawConnIO.serve when the socket is
// empty.
var errWouldBlock = errors.New("server: socket empty")

// errLeave ends a serve: the next command is read by readLine.
var errLeave = errors.New("server: command not buffered whole")

// serveBuffered serves, inside rawConnIO.serve, the commands that arrive
// whole (line and data block). It returns false when the connection is
// done, true when the next command is for readLine: a data block that is
// still on its way (readData bounds the wait by Config.ValueTimeout), a
// line too long to buffer, a binary request.
func (c *conn) serveBuffered() bool {
	c.ended = false
	err := c.raw.serve(c.serveStep)
	if c.ended {
		return false
	}
	if err != nil { // the wait failed: a deadline, or the socket closed
		return c.exec(nil, false, err)
	}
	return true
}

// step executes the commands buffered whole, reading while the socket may
// hold more; it returns false to wait for the socket, true to end serve.
// With stepLimit set (an event loop), it also returns false after that
// many commands, with yielded set and the replies so far written, so that
// one client that pipelines without end cannot starve the others of its
// loop (memcached's reqs_per_event).
func (c *conn) step() bool {
	for n := 0; ; n++ {
		if n == c.stepLimit && n > 0 {
			if err := c.flush(); err != nil {
				c.exec(nil, false, err)
				c.ended = true
				return true
			}
			c.yielded = true
			return false
		}
		line, err := c.bufferedLine()
		switch {
		case err == errWouldBlock:
			return false
		case err == errLeave:
			return true
		case !c.exec(line, false, err):
			c.ended = true
			return true
		}
	}
}

// bufferedLine returns the next command line, with the data block it
// announces buffered after it, reading without waiting. It returns
// errWouldBlock, once the replies so far are written, when the socket is
// drained first, and errLeave for a command readLine must read.
func (c *conn) bufferedLine() ([]byte, error) {
	for {
		n := c.r.Buffered()
		if line, err := c.wholeCommand(n); line != nil || err != nil {
			return line, err
		}
		if c.raw.drained() {
			return nil, c.beforeWait(n)
		}
		_, err := c.r.Peek(n + 1)
		switch {
		case err == nil:
			c.setBusy()
		case err != errWouldBlock && n > 0:
			// The end of the input, or a failed read, after a whole
			// line whose data block has not come: readLine runs it and
			// meets the end itself, so that a malformed line gets its
			// error before the connection ends, as memcached answers a
			// line before it reads the block.
			return nil, errLeave
		case err != errWouldBlock:
			return nil, err
		}
	}
}

// wholeCommand returns the first of the n bytes buffered as a command line
// when the data block it announces is buffered too; nil and no error when
// more must be read first.
func (c *conn) wholeCommand(n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	buf, _ := c.r.Peek(n)
	i := bytes.IndexByte(buf, '\n')
	if buf[0] == binaryRequestMagic || (i < 0 && n > protocol.MaxLineLength) {
		return nil, errLeave
	}
	if i < 0 {
		return nil, nil
	}
	size := blockSize(buf[:i+1])
	need := i + 1 + size
	switch {
	case size >= 0 && need <= n:
		_, _ = c.r.Discard(i + 1)
		return buf[:i+1], nil
	case size < 0 || need > c.r.Size() || c.raw.drained():
		return nil, errLeave
	}
	return nil, nil
}

// beforeWait marks a connection with nothing buffered idle and writes the
// replies so far, as readLine does before it waits; it returns
// errWouldBlock unless the server is closing.
func (c *conn) beforeWait(n int) error {
	if n == 0 {
		c.setIdle()
	}
	if err := c.flush(); err != nil {
		return err
	}
	if n == 0 && c.s.closing.Load() {
		return ErrServerClosed
	}
	return errWouldBlock
}

// blockSize returns the size of the data block, "\r\n" included, that a
// command line announces: 0 for a command without one, -1 when the line
// is malformed (the command's own parser answers it). It may only err
// high: a command is executed once that many bytes follow its line.
func blockSize(line []byte) int {
	name, rest := protocol.NextToken(protocol.TrimLine(line))
	skip := 0
	switch string(name) {
	case "set", "add", "replace", "append", "prepend", "cas":
		skip = 3 // key flags exptime bytes
	case "ms":
		skip = 1 // key datalen
	default:
		return 0
	}
	var tok []byte
	for range skip + 1 {
		tok, rest = protocol.NextToken(rest)
	}
	v, ok := protocol.ParseArgInt32(tok)
	if !ok || v < 0 || v > readBufferSize {
		return -1
	}
	return int(v) + 2
}
