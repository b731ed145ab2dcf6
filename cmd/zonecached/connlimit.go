package main

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connLimiter is a listener that holds at most max connections at once.
// Past it, Accept closes the connection idle the longest (an HTTP
// keep-alive between requests) to make room, or, when none is idle, the
// new connection. Idle connections are known from http.Server.ConnState
// (track), so one flood of idle keep-alives cannot lock out health checks.
type connLimiter struct {
	net.Listener
	max               int
	rejected, evicted prometheus.Counter

	mu    sync.Mutex
	conns map[*limitedConn]time.Time // held connections; idle since, or zero while busy
}

func newConnLimiter(ln net.Listener, max int, rejected, evicted prometheus.Counter) *connLimiter {
	return &connLimiter{Listener: ln, max: max, rejected: rejected, evicted: evicted, conns: make(map[*limitedConn]time.Time)}
}

// Accept returns the next connection that fits within the limit.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
		l.rejected.Inc()
		c.Close()
	}
}

// admit holds c, making room by closing the longest idle connection when
// the limit is reached; it returns nil when there is no room.
func (l *connLimiter) admit(c net.Conn) *limitedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		victim := l.longestIdle()
		if victim == nil {
			return nil
		}
		delete(l.conns, victim)
		l.evicted.Inc()
		victim.Conn.Close() // its server goroutine sees it closed at its next read
	}
	lc := &limitedConn{Conn: c, l: l}
	l.conns[lc] = time.Time{}
	return lc
}

// longestIdle returns the connection idle the longest, or nil.
func (l *connLimiter) longestIdle() *limitedConn {
	var victim *limitedConn
	var since time.Time
	for c, t := range l.conns {
		if !t.IsZero() && (victim == nil || t.Before(since)) {
			victim, since = c, t
		}
	}
	return victim
}

// track is the http.Server's ConnState hook: it records when a held
// connection turns idle or busy.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, held := l.conns[lc]; !held {
		return
	}
	switch state {
	case http.StateIdle:
		l.conns[lc] = time.Now()
	case http.StateActive:
		l.conns[lc] = time.Time{}
	}
}

// release lets go of c's place.
func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// limitedConn is a connection held by a connLimiter until it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}
