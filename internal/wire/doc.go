// Package wire holds what the server and the client share about memcached's
// wire formats: key rules, limits and the sentinel errors for them. The
// server's parser and the client's meta-protocol codec both build on it, so
// that a key the client accepts is a key every memcached-protocol node
// accepts.
package wire
