package nodeclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
)

// Node is the client's link to one cache node: two pools and a circuit
// breaker. Create it with NewNode; it dials lazily on first use.
type Node struct {
	addr     string
	cfg      Config
	log      *slog.Logger
	online   *Pool
	batch    *Pool
	breaker  *breaker
	stats    counters
	activity onlineActivity // the online pool's, for the batch gate
	closed   atomic.Bool
}

// NewNode returns a Node for addr (host:port). No connection is made until
// the first request.
func NewNode(addr string, cfg Config) *Node {
	cfg = cfg.withDefaults()
	n := &Node{addr: addr, cfg: cfg, log: cfg.Logger}
	n.breaker = newBreaker(n, cfg.Breaker)
	n.online = newPool(n, Online, cfg.Online)
	n.batch = newPool(n, Batch, cfg.Batch)
	return n
}

// Addr returns the node's address.
func (n *Node) Addr() string { return n.addr }

// Online returns the pool for latency-critical requests.
func (n *Node) Online() *Pool { return n.online }

// Batch returns the pool for bulk requests.
func (n *Node) Batch() *Pool { return n.batch }

// Pool returns the pool of class c.
func (n *Node) Pool(c Class) *Pool {
	if c == Batch {
		return n.batch
	}
	return n.online
}

// State returns the circuit breaker's state.
func (n *Node) State() State { return n.breaker.State() }

// Close stops the prober and closes every connection; pending requests fail
// with ErrConnClosed wrapping ErrClosed, later ones with ErrClosed.
func (n *Node) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	n.breaker.close()
	n.closeConns(ErrClosed)
	return nil
}

func (n *Node) isClosed() bool { return n.closed.Load() }

func (n *Node) closeConns(cause error) {
	n.online.closeConns(cause)
	n.batch.closeConns(cause)
}

// dial connects and checks with `mn` that the node speaks the meta
// protocol, within DialTimeout and the context. A failure is ErrUnreachable
// unless the caller's context ended.
func (n *Node) dial(ctx context.Context) (*link, error) {
	n.stats.dials.Add(1)
	dctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	defer cancel()
	l, err := handshake(dctx, n.cfg, n.addr)
	if err != nil {
		n.stats.dialFailures.Add(1)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("nodeclient: connect %s: %w", n.addr, err)
		}
		return nil, fmt.Errorf("nodeclient: connect %s: %w: %w", n.addr, ErrUnreachable, err)
	}
	return l, nil
}

// link is a connected, checked socket: its reader, and whether the node
// speaks only the text protocol.
type link struct {
	nc   net.Conn
	br   *bufio.Reader
	text bool
}

// probe is the breaker's health check: a fresh connection answering `mn`.
func (n *Node) probe(ctx context.Context) error {
	n.stats.probes.Add(1)
	l, err := handshake(ctx, n.cfg, n.addr)
	if err != nil {
		return err
	}
	return l.nc.Close()
}

// handshake dials addr (Config.Dial) and checks the protocol, honouring
// ctx throughout: `mn` answered by MN is a meta node; answered by ERROR,
// `version` answered by VERSION is a text-only node (memcached before 1.6).
// A node that answers "CLIENT_ERROR unauthenticated" is sent Config.Auth,
// then asked again.
func handshake(ctx context.Context, cfg Config, addr string) (*link, error) {
	nc, err := cfg.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*link, error) {
		stop()
		if ctx.Err() != nil && unread(nc) {
			// The node answered; the client did not read it in time.
			err = fmt.Errorf("%w: %w", errClientSlow, err)
		}
		_ = closeConn(nc, true) // the handshake may be in flight
		return nil, err
	}
	l := &link{nc: nc, br: bufio.NewReaderSize(nc, readBufferSize)}
	var rep protocol.Reply
	err = noop(nc, l.br, cfg.Auth, &rep)
	switch {
	case errors.Is(err, protocol.ErrUnknownCommand):
		l.text = true
		if _, err := nc.Write(protocol.AppendTextVersion(nil)); err != nil {
			return fail(ctxOr(ctx, err))
		}
		if err := protocol.ReadTextStatus(l.br, &rep); err != nil {
			return fail(fmt.Errorf("%w: version: %w", ErrNoMeta, ctxOr(ctx, err)))
		}
	case err != nil:
		return fail(ctxOr(ctx, err))
	}
	if rep.Code != protocol.CodeMN {
		return fail(fmt.Errorf("%w: %v reply to the handshake", protocol.ErrMalformed, rep.Code))
	}
	if !stop() { // the context ended and poisoned the deadline
		return fail(ctxOr(ctx, context.Cause(ctx)))
	}
	return l, nil
}

// ctxOr prefers the context's error when it caused err.
func ctxOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
