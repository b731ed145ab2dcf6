package server

import (
	"crypto/tls"
	"slices"
	"strconv"
	"syscall"
)

// connInfo is one socket as "stats conns" lists it.
type connInfo struct {
	fd     int
	addr   string
	listen string // the listener's address, for a client connection
	state  string
	idle   int64 // seconds since the last command
}

// connsStats writes "stats conns" in memcached 1.6's shape: for each
// listener and client connection, by file descriptor, its address, the
// listener's address, its state (conn_listening, conn_read while waiting
// for a command, conn_parse_cmd while running one) and the seconds since
// its last command.
func (c *conn) connsStats() {
	s := c.s
	now := c.now().Unix()
	var infos []connInfo
	s.mu.Lock()
	for ln := range s.lns {
		infos = append(infos, connInfo{fd: socketFD(ln), addr: ln.Addr().String(), state: "conn_listening",
			idle: now - s.started.Unix()})
	}
	for o := range s.conns {
		state := "conn_read"
		if o == c || o.state.Load() == connBusy {
			state = "conn_parse_cmd"
		}
		infos = append(infos, connInfo{fd: socketFD(o.nc), addr: o.nc.RemoteAddr().String(),
			listen: o.nc.LocalAddr().String(), state: state, idle: now - o.lastRead.Load()})
	}
	s.mu.Unlock()
	slices.SortFunc(infos, func(a, b connInfo) int { return a.fd - b.fd })
	w := statWriter{c}
	for _, in := range infos {
		p := strconv.Itoa(in.fd) + ":"
		w.s(p+"addr", "tcp:"+in.addr)
		if in.listen != "" {
			w.s(p+"listen_addr", "tcp:"+in.listen)
		}
		w.s(p+"state", in.state)
		w.i(p+"secs_since_last_cmd", max(in.idle, 0))
	}
	c.str("END\r\n")
}

// socketFD returns the file descriptor of a listener's or connection's
// socket, or -1.
func socketFD(x any) int {
	if tc, ok := x.(*tls.Conn); ok {
		x = tc.NetConn()
	}
	sc, ok := x.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil {
		return -1
	}
	return fd
}
