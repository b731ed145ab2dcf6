package nodeclient

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// proxy is a real TCP proxy for fault injection: it counts the bytes
// clients send and can hold back the server's replies (blackhole) until
// released.
type proxy struct {
	ln       net.Listener
	target   string
	upBytes  atomic.Int64
	accepted atomic.Int64

	mu     sync.Mutex
	held   bool
	resume chan struct{}
	budget int // bytes to pass on before holding (holdAfter); < 0: no limit
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, resume: make(chan struct{}), budget: -1}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// hold stops forwarding replies to clients until release.
func (p *proxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		p.held = true
		p.resume = make(chan struct{})
	}
}

// holdAfter passes on n more bytes of replies, then holds them until
// release.
func (p *proxy) holdAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget = n
}

// isHeld reports whether replies are held back.
func (p *proxy) isHeld() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// take returns how many of n bytes may be passed on now (0: held).
func (p *proxy) take(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.held:
		return 0
	case p.budget < 0:
		return n
	case p.budget == 0:
		p.held, p.resume, p.budget = true, make(chan struct{}), -1
		return 0
	}
	k := min(n, p.budget)
	p.budget -= k
	return k
}

// pass forwards b to c, holding while replies are held.
func (p *proxy) pass(c net.Conn, b []byte) error {
	for len(b) > 0 {
		p.gate()
		k := p.take(len(b))
		if k == 0 {
			continue
		}
		if _, err := c.Write(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

func (p *proxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		p.held = false
		close(p.resume)
	}
}

func (p *proxy) gate() {
	p.mu.Lock()
	ch, held := p.resume, p.held
	p.mu.Unlock()
	if held {
		<-ch
	}
}

func (p *proxy) close() {
	p.release()
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { // client -> server, counted
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					p.upBytes.Add(int64(n))
					if _, werr := s.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			_ = s.Close()
		}()
		go func() { // server -> client, gated
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					if werr := p.pass(c, buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			_ = c.Close()
		}()
	}
}
