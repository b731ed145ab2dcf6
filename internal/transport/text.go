package transport

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/zonecache/zonecache/internal/wire"
)

// Text-protocol fallback for nodes that answer `mn` with ERROR (memcached
// before 1.6). The operations map onto gets/gats/touch/set/add/replace/
// append/prepend/cas/delete/incr/decr/version and their replies are
// translated to meta codes by internal/wire, so ops.go serves both. What the
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
		returnsMeta := f&wire.FlagReturnValue == 0 && f&(wire.FlagReturnCAS|wire.FlagReturnTTL) != 0
		return returnsMeta || f&(wire.WithVivify|wire.WithRecache) != 0
	case kindSet:
		if f&wire.FlagInvalidate != 0 {
			return true
		}
		m := c.args.Mode
		return f&wire.WithCompareCAS != 0 && f&wire.WithMode != 0 && m != wire.ModeSet && m != wire.ModeReplace
	case kindDelete:
		return f&wire.FlagInvalidate != 0
	}
	return false
}

// encodeText appends the call's request in the text protocol.
func (c *call) encodeText(dst []byte) []byte {
	a := &c.args
	switch c.kind {
	case kindGet:
		if a.Flags&wire.FlagReturnValue == 0 {
			return wire.AppendTextTouch(dst, c.key, a.TTL)
		}
		return wire.AppendTextGet(dst, a.Flags&wire.WithTTL != 0, a.TTL, c.key)
	case kindSet:
		cmd := "set"
		switch {
		case a.Flags&wire.WithCompareCAS != 0:
			cmd = "cas"
		case a.Flags&wire.WithMode == 0:
		case a.Mode == wire.ModeAdd:
			cmd = "add"
		case a.Mode == wire.ModeReplace:
			cmd = "replace"
		case a.Mode == wire.ModeAppend:
			cmd = "append"
		case a.Mode == wire.ModePrepend:
			cmd = "prepend"
		}
		return wire.AppendTextStore(dst, cmd, c.key, a.ClientFlags, a.TTL, c.value, a.CompareCAS)
	case kindDelete:
		return wire.AppendTextDelete(dst, c.key)
	case kindArith:
		return wire.AppendTextArith(dst, a.Mode == wire.ModeDecr, c.key, a.Delta)
	case kindNoop:
		return wire.AppendTextVersion(dst)
	case kindMulti:
		return wire.AppendTextGet(dst, false, 0, c.keys...)
	}
	panic("transport: unknown call kind")
}

// readText reads the text reply of c into c.rep / c.val / c.hits. Like
// readOne it returns an error only when the connection is out of step.
func (cn *conn) readText(c *call) error {
	abandoned := func() bool { return c.state.Load() == callAbandoned }
	switch {
	case c.kind == kindMulti:
		for {
			if err := wire.ReadTextValue(cn.br, &c.rep); err != nil {
				return cn.textError(c, err)
			}
			if c.rep.Code == wire.CodeEN {
				return nil
			}
			if !abandoned() {
				c.hits = append(c.hits, multiHit{item: itemFromReply(string(c.rep.Key), &c.rep, bytes.Clone(c.rep.Value))})
			}
		}
	case c.kind == kindGet && c.args.Flags&wire.FlagReturnValue != 0:
		if err := wire.ReadTextValue(cn.br, &c.rep); err != nil {
			return cn.textError(c, err)
		}
		if c.rep.Code == wire.CodeEN {
			return nil
		}
		if !abandoned() {
			c.val = bytes.Clone(c.rep.Value)
		}
		var end wire.Reply
		if err := wire.ReadTextValue(cn.br, &end); err != nil || end.Code != wire.CodeEN {
			return fmt.Errorf("%w: no END after a single VALUE (%v)", wire.ErrMalformed, err)
		}
		c.rep.TTL = 0
		return nil
	}
	if err := wire.ReadTextStatus(cn.br, &c.rep); err != nil {
		if c.kind == kindSet && errors.Is(err, wire.ErrClientError) {
			// The text protocol does not swallow the data block after a
			// CLIENT_ERROR: the stream is out of step.
			return err
		}
		return cn.textError(c, err)
	}
	switch {
	case c.kind == kindGet && c.rep.Code == wire.CodeNF:
		c.rep.Code = wire.CodeEN // touch: a miss
	case c.kind == kindArith && c.rep.Code == wire.CodeVA:
		c.val = bytes.Clone(c.rep.Value)
	}
	return nil
}

func (cn *conn) textError(c *call, err error) error {
	if errors.Is(err, wire.ErrUnknownCommand) {
		return err // an unknown command may leave a data block unread
	}
	return cn.replyError(c, err)
}
