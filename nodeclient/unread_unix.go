//go:build unix

package nodeclient

import (
	"crypto/tls"
	"net"
	"syscall"
)

// unread reports whether bytes from the node wait in nc's receive buffer,
// unread by the client (a non-blocking MSG_PEEK; for TLS, of the socket
// under it).
func unread(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return n > 0
}
