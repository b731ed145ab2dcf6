package nodeclient

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/zonecache/zonecache/internal/protocol"
)

// Text-protocol fallback for nodes that answer `mn` with ERROR (memcached
// before 1.6). The operations map onto gets/gats/touch/set/add/replace/
// append/prepend/cas/delete/incr/decr/version and their replies are
// translated to meta codes by internal/protocol, so ops.go serves both. What the
// text protocol cannot express fails with ErrNoMeta before anything is sent:
// leases (N, R), invalidation (I), a compare-CAS on append/prepend/add and a
// touch that returns the item's CAS or TTL (SwapTTL).
// Replies carry no opaque token (matching is by order only) and no TTL: reads
// from a text node report TTL 0 (unknown) and stores report CAS 0.

// needsMeta reports whether the call cannot be expressed in text.
func (c *call) needsMeta() bool {
	f := c.args.Flags
	switch c.kind {
	case kindGet:
		// A touch that returns CAS or TTL (SwapTTL) is not a text touch.
		returnsMeta := f&protocol.FlagReturnValue == 0 && f&(protocol.FlagReturnCAS|protocol.FlagReturnTTL) != 0
		return returnsMeta || f&(protocol.WithVivify|protocol.WithRecache) != 0
	case kindSet:
		if f&protocol.FlagInvalidate != 0 {
			return true
		}
		m := c.args.Mode
		return f&protocol.WithCompareCAS != 0 && f&protocol.WithMode != 0 && m != protocol.ModeSet && m != protocol.ModeReplace
	case kindDelete:
		return f&protocol.FlagInvalidate != 0
	}
	return false
}

// encodeText appends the call's request in the text protocol.
func (c *call) encodeText(dst []byte) []byte {
	a := &c.args
	switch c.kind {
	case kindGet:
		if a.Flags&protocol.FlagReturnValue == 0 {
			return protocol.AppendTextTouch(dst, c.key, a.TTL)
		}
		return protocol.AppendTextGet(dst, a.Flags&protocol.WithTTL != 0, a.TTL, c.key)
	case kindSet:
		cmd := "set"
		switch {
		case a.Flags&protocol.WithCompareCAS != 0:
			cmd = "cas"
		case a.Flags&protocol.WithMode == 0:
		case a.Mode == protocol.ModeAdd:
			cmd = "add"
		case a.Mode == protocol.ModeReplace:
			cmd = "replace"
		case a.Mode == protocol.ModeAppend:
			cmd = "append"
		case a.Mode == protocol.ModePrepend:
			cmd = "prepend"
		}
		return protocol.AppendTextStore(dst, cmd, c.key, a.ClientFlags, a.TTL, c.value, a.CompareCAS)
	case kindDelete:
		return protocol.AppendTextDelete(dst, c.key)
	case kindArith:
		return protocol.AppendTextArith(dst, a.Mode == protocol.ModeDecr, c.key, a.Delta)
	case kindNoop:
		return protocol.AppendTextVersion(dst)
	case kindMulti:
		return protocol.AppendTextGet(dst, false, 0, c.keys...)
	}
	panic("nodeclient: unknown call kind")
}

// readText reads the text reply of c into c.rep / c.val / c.hits. Like
// readOne it returns an error only when the connection is out of step.
func (cn *conn) readText(c *call) error {
	abandoned := func() bool { return c.state.Load() == callAbandoned }
	switch {
	case c.kind == kindMulti:
		for {
			if err := protocol.ReadTextValue(cn.br, &c.rep); err != nil {
				return cn.textError(c, err)
			}
			if c.rep.Code == protocol.CodeEN {
				return nil
			}
			if !abandoned() {
				c.hits = append(c.hits, multiHit{item: itemFromReply(string(c.rep.Key), &c.rep, bytes.Clone(c.rep.Value))})
			}
		}
	case c.kind == kindGet && c.args.Flags&protocol.FlagReturnValue != 0:
		if err := protocol.ReadTextValue(cn.br, &c.rep); err != nil {
			return cn.textError(c, err)
		}
		if c.rep.Code == protocol.CodeEN {
			return nil
		}
		if !abandoned() {
			c.val = bytes.Clone(c.rep.Value)
		}
		var end protocol.Reply
		if err := protocol.ReadTextValue(cn.br, &end); err != nil || end.Code != protocol.CodeEN {
			return fmt.Errorf("%w: no END after a single VALUE (%v)", protocol.ErrMalformed, err)
		}
		c.rep.TTL = 0
		return nil
	}
	if err := protocol.ReadTextStatus(cn.br, &c.rep); err != nil {
		if c.kind == kindSet && errors.Is(err, protocol.ErrClientError) {
			// The text protocol does not swallow the data block after a
			// CLIENT_ERROR: the stream is out of step.
			return err
		}
		return cn.textError(c, err)
	}
	switch {
	case c.kind == kindGet && c.rep.Code == protocol.CodeNF:
		c.rep.Code = protocol.CodeEN // touch: a miss
	case c.kind == kindArith && c.rep.Code == protocol.CodeVA:
		c.val = bytes.Clone(c.rep.Value)
	}
	return nil
}

func (cn *conn) textError(c *call, err error) error {
	if errors.Is(err, protocol.ErrUnknownCommand) {
		return err // an unknown command may leave a data block unread
	}
	return cn.replyError(c, err)
}
