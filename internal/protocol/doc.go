// Package wire holds what the server and the client share about memcached's
// wire formats: key rules, limits and the sentinel errors for them. The
// server's parser and the client's meta-protocol codec both build on it, so
// that a key the client accepts is a key every memcached-protocol node
// accepts.
//
// The client side of the meta protocol lives here too: Append* functions
// write mg/ms/md/ma/mn request lines into a caller's []byte without
// allocating, and ReadReply/ReadHeader/ReadValue parse replies (return code,
// return flags c f t s k O W X Z, value) from a bufio.Reader into a reused
// Reply. nodeclient drives them over pipelined connections.
package protocol
