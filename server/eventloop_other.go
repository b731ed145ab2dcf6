//go:build !linux

package server

// eventLoops is Linux only: elsewhere every connection keeps its goroutine.
type eventLoops struct{}

// loopConn is empty where there are no event loops.
type loopConn struct{}

func newEventLoops(*Server, int) (*eventLoops, error) { return nil, nil }

func (*eventLoops) close()            {}
func (*eventLoops) adopt(*conn) bool  { return false }
func (*conn) kickLoop()               {}
func (*conn) leaveLoop()              {}
func (*conn) sendUnsent() error       { return nil }
func (*eventLoops) holdSends() func() { return func() {} }
