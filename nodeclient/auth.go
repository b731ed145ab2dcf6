package nodeclient

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/zonecache/zonecache/internal/protocol"
)

// Credentials authenticate a Node's connections to a node that requires
// it (zonecached --auth-file, memcached -Y): one user of its authfile.
type Credentials struct {
	Username, Password string
}

// ErrAuth means the node refused the credentials, or requires some and
// none were configured. It comes wrapped in ErrUnreachable.
var ErrAuth = errors.New("nodeclient: authentication failed")

// unauthenticated reports whether err is the reply of a node that requires
// authentication first.
func unauthenticated(err error) bool {
	return errors.Is(err, protocol.ErrClientError) && strings.HasSuffix(err.Error(), "unauthenticated")
}

// Authenticate readies a raw text-protocol connection (a tool's stats or
// lru_crawler metadump) on a node that may require authentication: with
// credentials, it asks the node with mn and authenticates if the node
// answers "CLIENT_ERROR unauthenticated". Without, it does nothing.
func Authenticate(nc net.Conn, br *bufio.Reader, cr *Credentials) error {
	if cr == nil {
		return nil
	}
	var rep protocol.Reply
	err := noop(nc, br, cr, &rep)
	if errors.Is(err, protocol.ErrUnknownCommand) {
		return nil // a text-only node
	}
	return err
}

// noop sends mn and reads the reply into rep; a node that answers
// "CLIENT_ERROR unauthenticated" is sent cr, then mn again.
func noop(nc net.Conn, br *bufio.Reader, cr *Credentials, rep *protocol.Reply) error {
	if _, err := nc.Write(protocol.AppendNoop(nil)); err != nil {
		return err
	}
	err := protocol.ReadHeader(br, rep)
	if !unauthenticated(err) {
		return err
	}
	if err := authenticate(nc, br, cr); err != nil {
		return err
	}
	if _, err := nc.Write(protocol.AppendNoop(nil)); err != nil {
		return err
	}
	return protocol.ReadHeader(br, rep)
}

// authenticate sends memcached's text-protocol authentication, a set whose
// data is "<username> <password>", and checks that it is answered STORED.
// It is sent only to a node that answered "CLIENT_ERROR unauthenticated":
// a node without authentication would store the password.
func authenticate(nc net.Conn, br *bufio.Reader, cr *Credentials) error {
	if cr == nil {
		return fmt.Errorf("%w: the node requires credentials (Config.Auth)", ErrAuth)
	}
	data := cr.Username + " " + cr.Password
	req := "set auth 0 0 " + strconv.Itoa(len(data)) + "\r\n" + data + "\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		return err
	}
	var rep protocol.Reply
	err := protocol.ReadTextStatus(br, &rep)
	switch {
	case errors.Is(err, protocol.ErrClientError):
		return fmt.Errorf("%w: %w", ErrAuth, err)
	case err != nil:
		return err
	case rep.Code != protocol.CodeHD:
		return fmt.Errorf("%w: %v reply to authentication", protocol.ErrMalformed, rep.Code)
	}
	return nil
}
