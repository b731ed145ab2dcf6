// Package faultproxy is a small TCP proxy for fault injection (zonebench's
// slow-node demo, the consistency checker's zone cut without root, tests):
// it listens on a free loopback port, forwards every connection to one
// target address, and can delay each chunk of bytes flowing back from the
// target by a settable amount, which makes the target look slow (a
// delay beyond a client's timeout makes it look hung) without touching the
// process itself. The delay is latency, not a bandwidth limit: each chunk
// is passed on the delay after it was read, so chunks read while earlier
// ones wait are not delayed twice (pipelined responses stay pipelined).
//
//	p, err := faultproxy.New("127.0.0.1:11211")
//	...
//	defer p.Close()
//	// give clients p.Addr() instead of the target's address
//	p.SetDelay(50 * time.Millisecond) // every response chunk waits 50 ms
//	p.SetDelay(0)                     // back to a plain pass-through
//
// The delay is read for every chunk, so a change applies to connections
// already open. Close stops accepting, closes every proxied connection and
// interrupts pending delays.
package faultproxy
