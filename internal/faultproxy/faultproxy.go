package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DialTimeout bounds connecting to the target for each accepted connection.
const DialTimeout = 2 * time.Second

// Proxy forwards TCP connections from Addr to a target address. Its methods
// are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // nanoseconds added before each chunk from the target
	// delayed counts chunks that were held back by a delay > 0.
	delayed atomic.Int64
	// blackhole drops every byte, both ways, while set.
	blackhole atomic.Bool

	// broken holds the client connections that lost bytes to the
	// blackhole, closed when it is lifted; guarded by mu.
	broken map[net.Conn]struct{}

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// New starts a proxy listening on 127.0.0.1 (a free port) that forwards to
// target, with no delay.
func New(target string) (*Proxy, error) {
	if target == "" {
		return nil, errors.New("faultproxy: empty target")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{}), broken: make(map[net.Conn]struct{}), done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// SetDelay sets the delay added before each chunk of bytes the target sends
// is passed on (0 or less: none). It applies to open connections too.
func (p *Proxy) SetDelay(d time.Duration) {
	if d < 0 {
		d = 0
	}
	p.delay.Store(int64(d))
}

// SetBlackhole makes the proxy drop every byte, both ways, from now on
// (true) or no more (false), as a network partition would: connections
// stay open, requests are lost, nothing is answered, and new connections
// are accepted but never answered. A connection that lost bytes is closed
// when the blackhole is lifted (a partition longer than TCP retransmits),
// so no torn stream reaches either side.
func (p *Proxy) SetBlackhole(on bool) {
	p.blackhole.Store(on)
	if on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.broken {
		_ = c.Close()
		delete(p.broken, c)
	}
}

// dropped reports whether a chunk of client's connection is lost to the
// blackhole, and marks the connection broken if so.
func (p *Proxy) dropped(client net.Conn) bool {
	if !p.blackhole.Load() {
		return false
	}
	p.mu.Lock()
	p.broken[client] = struct{}{}
	p.mu.Unlock()
	return true
}

// Delay returns the current delay.
func (p *Proxy) Delay() time.Duration { return time.Duration(p.delay.Load()) }

// DelayedChunks is the number of chunks from the target that were held back
// by a delay so far.
func (p *Proxy) DelayedChunks() int64 { return p.delayed.Load() }

// Close stops the proxy: no new connections, every open one closed, pending
// delays cut short. It waits for the proxy's goroutines and is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	close(p.done)
	err := p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// track registers c unless the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.broken, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve proxies one client connection.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	upstream, err := net.DialTimeout("tcp", p.target, DialTimeout)
	if err != nil {
		return
	}
	if !p.track(upstream) {
		_ = upstream.Close()
		return
	}
	defer p.untrack(upstream)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.copyRequests(upstream, client)
		// The client is done sending: let the target see EOF.
		if tc, ok := upstream.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	p.copyDelayed(client, upstream, client)
	// The target closed (or failed): close both so the other copy ends.
	_ = client.Close()
	_ = upstream.Close()
	wg.Wait()
}

// copyRequests copies client's bytes to upstream, but those lost to the
// blackhole.
func (p *Proxy) copyRequests(upstream, client net.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := client.Read(buf)
		if n > 0 && !p.dropped(client) {
			if _, werr := upstream.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// copyDelayed copies src to dst, the target's bytes to client's connection,
// but those lost to the blackhole. Each chunk read is passed on the current
// delay after it was read: the delay adds latency without serialising the
// chunks (a chunk read while an earlier one waits is not delayed twice), as
// a slow node answering pipelined requests would.
func (p *Proxy) copyDelayed(dst io.Writer, src io.Reader, client net.Conn) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	queue := make(chan chunk, 256)
	stop := make(chan struct{}) // the writer gave up: the reader stops too
	p.wg.Add(1)                 // Close waits for the reader; closing the connections ends its Read
	go func() {
		defer p.wg.Done()
		defer close(queue)
		buf := make([]byte, 32*1024)
		for {
			n, err := src.Read(buf)
			if n > 0 && !p.dropped(client) {
				c := chunk{b: append([]byte(nil), buf[:n]...), due: time.Now()}
				if d := time.Duration(p.delay.Load()); d > 0 {
					p.delayed.Add(1)
					c.due = c.due.Add(d)
				}
				select {
				case queue <- c:
				case <-stop:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer close(stop)
	for c := range queue {
		if wait := time.Until(c.due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
}
