package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zonecache/zonecache/server/internal/store"
)

// Reasons an event loop gives a connection to a goroutine.
const (
	// handoffRead: its next command is not buffered whole.
	handoffRead = iota
	// handoffWait: a command had to wait (a full socket buffer, the
	// large-value budget, a metadump).
	handoffWait
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("server: closed")

// Server is a zonecached cache node. Create it with New, run it with Serve or
// ListenAndServe, stop it with Shutdown (graceful) or Close.
type Server struct {
	cfg     Config
	clock   *coarseClock // nil when Config.Now was given
	log     *slog.Logger
	store   *store.Store
	started time.Time
	stats   counters
	metrics *metrics
	reg     *prometheus.Registry
	// bigBuffers bounds the large-value buffers of all connections.
	bigBuffers budget
	// valuePool recycles pooledValueSize buffers for medium values.
	valuePool sync.Pool
	// crawlerOff is set by "lru_crawler disable".
	crawlerOff atomic.Bool
	// prefixes holds "stats detail" counts.
	prefixes prefixStats
	// memLimit is the limit cache_memlimit set last; 0 until then.
	memLimit atomic.Int64
	// own counts PurgeUnowned's work.
	own ownershipStats
	// fence keeps a node that may have missed writes from serving hits.
	fence *fence
	// idleStop stops closeIdle; nil without an idle timeout.
	idleStop chan struct{}
	// loops serve plain TCP connections (Config.EventLoops); nil: every
	// connection keeps its goroutine.
	loops *eventLoops
	// handoffs counts connections an event loop gave to a goroutine, by
	// reason (handoffRead, handoffWait).
	handoffs [2]atomic.Uint64
	// sendBatches and batchedSends count the event loops' io_uring
	// batches and the sends in them (sendBatch).
	sendBatches, batchedSends atomic.Uint64
	// shortSends counts batched sends a full socket buffer cut short.
	shortSends atomic.Uint64
	// loopYields counts the passes after which an event loop yielded its
	// thread (yieldThread).
	loopYields atomic.Uint64
	// restaged counts connections a loop's pass received for but did not
	// step, which the next pass steps (recvBatch).
	restaged atomic.Uint64

	closing atomic.Bool
	serving atomic.Int32
	mu      sync.Mutex
	lns     map[net.Listener]struct{}
	conns   map[*conn]struct{}
	connWG  sync.WaitGroup
	closed  bool
}

// New creates a Server and its store.
func New(cfg Config) (*Server, error) {
	var clock *coarseClock
	if cfg.Now == nil {
		clock = newCoarseClock()
		cfg.Now = clock.Now
	}
	cfg = cfg.withDefaults()
	if int64(cfg.MaxItemSize) > cfg.MaxBytes/2 {
		if clock != nil {
			clock.Close()
		}
		return nil, fmt.Errorf("server: item size limit %d is more than half of the memory limit %d", cfg.MaxItemSize, cfg.MaxBytes)
	}
	st, err := store.New(store.Config{MaxBytes: cfg.MaxBytes, MaxItemSize: cfg.MaxItemSize, Now: cfg.Now})
	if err != nil {
		if clock != nil {
			clock.Close()
		}
		return nil, fmt.Errorf("server: create store: %w", err)
	}
	s := &Server{
		clock:   clock,
		cfg:     cfg,
		log:     cfg.Logger,
		store:   st,
		started: cfg.Now(),
		lns:     make(map[net.Listener]struct{}),
		conns:   make(map[*conn]struct{}),
	}
	s.bigBuffers.limit = cfg.largeValueBudget()
	s.valuePool.New = func() any {
		b := make([]byte, 0, pooledValueSize)
		return &b
	}
	s.reg = prometheus.NewRegistry()
	s.metrics = newMetrics(s, s.reg)
	s.fence = newFence(s, cfg.PauseBound, cfg.RejoinQuarantine, s.reg)
	if n := cfg.EventLoops; n > 0 {
		loops, err := newEventLoops(s, n)
		if err != nil {
			s.log.Warn("event loops not started; each connection gets a goroutine", "err", err)
		}
		s.loops = loops
	}
	if cfg.IdleTimeout > 0 {
		s.idleStop = make(chan struct{})
		go s.closeIdle(s.idleStop)
	}
	if cfg.RestartFile != "" {
		if err := s.loadRestartFile(); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// ListenAndServe listens on Config.Addr and serves until ctx is cancelled
// or the server is shut down.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln and serves each in its own goroutine. It
// returns ErrServerClosed after Shutdown or Close; when ctx is cancelled it
// stops accepting (in-flight connections go on until Shutdown).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	s.serving.Add(1)
	defer s.serving.Add(-1)

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	s.log.Info("zonecached serving", "addr", ln.Addr().String(), "tls", s.cfg.TLS != nil,
		"max_bytes", s.cfg.MaxBytes, "max_item_size", s.cfg.MaxItemSize, "max_conns", s.cfg.MaxConns,
		"event_loops", s.loopCount())

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				s.mu.Lock()
				delete(s.lns, ln)
				s.mu.Unlock()
				if s.closing.Load() {
					return ErrServerClosed
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("server: accept: %w", err)
			}
			// Out of file descriptors or a transient network error: back
			// off and go on serving the connections already open.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.accept(nc)
	}
}

// accept registers a new connection or rejects it over the limit.
func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	if s.closed || s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.mu.Unlock()
		s.stats.v[stRejectedConns].Add(1)
		s.log.Debug("connection refused: too many open connections", "remote", nc.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
		go func() {
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write([]byte("ERROR Too many open connections\r\n"))
			nc.Close()
		}()
		return
	}
	c := newConn(s, nc)
	c.tracked = true
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	s.stats.v[stTotalConns].Add(1)
	s.stats.currConns.Add(1)
	s.log.Debug("connection opened", "remote", nc.RemoteAddr().String())
	go func() {
		if err := c.handshake(); err != nil {
			s.log.Debug("closing connection: TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
			c.finish()
			return
		}
		c.serve()
	}()
}

// Shutdown stops the server gracefully: it stops accepting, lets every
// connection finish the command it is executing (idle connections are
// closed at once), saves the store to Config.RestartFile if it is set (the
// save is not cut short by ctx), then closes the store. If ctx ends first,
// the remaining connections are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.wakeIfIdle(nil)
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.closeConns()
		<-done
	}
	err = errors.Join(err, s.saveOnShutdown())
	s.finish()
	return err
}

// Close stops the server at once, dropping every connection.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	for ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()
	s.closeConns()
	s.connWG.Wait()
	return s.finish()
}

// closeConns closes every connection. The closes happen without s.mu
// held: a close waits for a command running on the socket, which may need
// s.mu (stats conns, reclaimStalled).
func (s *Server) closeConns() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// No loop may hold a batched reply for a socket closed here, whose
	// descriptor number could be reused.
	release := s.loops.holdSends()
	defer release()
	for _, c := range conns {
		c.nc.Close()
		c.stateMu.Lock()
		c.kickLoop() // a loop ends it
		c.stateMu.Unlock()
	}
}

func (s *Server) finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.loops != nil {
		s.loops.close()
	}
	s.fence.close()
	if s.idleStop != nil {
		close(s.idleStop)
	}
	if s.clock != nil {
		s.clock.Close()
	}
	if err := s.store.Close(); err != nil {
		return fmt.Errorf("server: close store: %w", err)
	}
	return nil
}

// loopCount is the number of event loops serving plain TCP connections.
func (s *Server) loopCount() int {
	if s.loops == nil || s.cfg.TLS != nil {
		return 0
	}
	return s.cfg.EventLoops
}

// Ready reports whether the server is serving at least one listener and is
// not shutting down.
func (s *Server) Ready() bool {
	return !s.closing.Load() && s.serving.Load() > 0
}
