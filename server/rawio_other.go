//go:build !linux

package server

import "net"

// newRawIO returns nil: connections use net.Conn's Read and Write.
func newRawIO(net.Conn) rawConnIO { return nil }
