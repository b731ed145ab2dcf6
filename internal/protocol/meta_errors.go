package protocol

import "errors"

// Sentinel errors of the meta-protocol client codec; test with errors.Is.
var (
	// ErrServerError wraps a SERVER_ERROR reply. The connection stays in
	// step with the server: the reply answered exactly one request.
	ErrServerError = errors.New("server error")
	// ErrClientError wraps a CLIENT_ERROR reply (the server refused the
	// request as malformed). The connection stays in step.
	ErrClientError = errors.New("client error")
	// ErrUnknownCommand is a bare ERROR reply: the server does not know the
	// command, for example a memcached without the meta protocol. After an
	// ERROR to a command that carried a data block the connection is out of
	// step and must be closed.
	ErrUnknownCommand = errors.New("unknown command (ERROR)")
	// ErrMalformed is returned for a reply that cannot be parsed. The
	// connection is out of step and must be closed.
	ErrMalformed = errors.New("malformed reply")
	// ErrValueTooLarge is returned for a value longer than the configured
	// maximum, before anything is sent.
	ErrValueTooLarge = errors.New("value is too large")
)
