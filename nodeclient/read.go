package nodeclient

import (
	"errors"
	"fmt"

	"github.com/zonecache/zonecache/internal/protocol"
)

// readReply reads the reply of the oldest queued call and returns that
// call, its outcome in c.err. A non-nil error means the connection is out of
// step; the returned call (if any) is then not completed.
func (cn *conn) readReply() (*call, error) {
	c := cn.pop()
	if c == nil {
		return nil, fmt.Errorf("%w: reply with no request pending", protocol.ErrMalformed)
	}
	var err error
	switch {
	case cn.text:
		err = cn.readText(c)
	case c.kind == kindMulti:
		err = cn.readMulti(c)
	default:
		err = cn.readOne(c)
	}
	return c, err
}

// readOne reads the single reply of c. It returns an error only when the
// connection is out of step; a server's error reply is stored in c.err.
func (cn *conn) readOne(c *call) error {
	if err := protocol.ReadHeader(cn.br, &c.rep); err != nil {
		return cn.replyError(c, err)
	}
	if c.kind == kindNoop {
		if c.rep.Code != protocol.CodeMN {
			return fmt.Errorf("%w: %v reply to mn", protocol.ErrMalformed, c.rep.Code)
		}
		return nil
	}
	if o, ok := c.rep.OpaqueUint32(); !ok || o != c.opaque {
		return fmt.Errorf("%w: reply opaque %q, want %d", protocol.ErrMalformed, c.rep.Opaque, c.opaque)
	}
	if c.rep.Code != protocol.CodeVA {
		return nil
	}
	if c.state.Load() == callAbandoned {
		return protocol.DiscardValue(cn.br, c.rep.Size)
	}
	v, err := protocol.ReadValue(cn.br, c.rep.Size, valueBuf(c.rep.Size))
	c.val = v
	return err
}

// readMulti reads the hits of a quiet multi-get up to its closing MN.
func (cn *conn) readMulti(c *call) error {
	n := uint32(len(c.keys))
	for {
		if err := protocol.ReadHeader(cn.br, &c.rep); err != nil {
			if err = cn.replyError(c, err); err != nil {
				return err
			}
			continue
		}
		switch c.rep.Code {
		case protocol.CodeMN:
			return nil
		case protocol.CodeVA, protocol.CodeEN:
		default:
			return fmt.Errorf("%w: %v in a multi-get", protocol.ErrMalformed, c.rep.Code)
		}
		o, ok := c.rep.OpaqueUint32()
		idx := o - c.opaque
		if !ok || idx >= n {
			return fmt.Errorf("%w: reply opaque %q outside [%d,%d)", protocol.ErrMalformed, c.rep.Opaque, c.opaque, c.opaque+n)
		}
		if c.rep.Code != protocol.CodeVA {
			continue
		}
		if c.state.Load() == callAbandoned {
			if err := protocol.DiscardValue(cn.br, c.rep.Size); err != nil {
				return err
			}
			continue
		}
		v, err := protocol.ReadValue(cn.br, c.rep.Size, valueBuf(c.rep.Size))
		if err != nil {
			return err
		}
		c.hits = append(c.hits, multiHit{idx: int(idx), item: itemFromReply(c.keys[idx], &c.rep, v)})
	}
}

// replyError sorts a ReadHeader error: a server's error reply is recorded in
// c.err (nil returned, connection in step), anything else is fatal.
func (cn *conn) replyError(c *call, err error) error {
	switch {
	case errors.Is(err, protocol.ErrServerError), errors.Is(err, protocol.ErrClientError):
		if c.err == nil {
			c.err = fmt.Errorf("nodeclient: %s: %w", cn.pool.node.addr, err)
		}
		return nil
	case errors.Is(err, protocol.ErrUnknownCommand):
		return fmt.Errorf("%w: %w", ErrNoMeta, err)
	}
	return err
}

// valueBuf returns a buffer for a value of size bytes: exact for the usual
// sizes, grown as bytes arrive for very large ones, so that a corrupt length
// cannot allocate memory the connection never delivers.
func valueBuf(size int) []byte {
	if size > 1<<20 {
		return nil
	}
	return make([]byte, 0, size)
}
