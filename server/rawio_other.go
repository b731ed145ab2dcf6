//go:build !linux

package server

import (
	"io"
	"net"
)

// newRawIO returns nil: connections use net.Conn's Read and Write.
func newRawIO(net.Conn) io.ReadWriter { return nil }
