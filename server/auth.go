package server

import (
	"crypto/subtle"

	"github.com/zonecache/zonecache/internal/protocol"
)

// maxAuthData bounds the data block of an authentication attempt: a
// longer one closes the connection (memcached waits for it forever, as it
// can never fit its read buffer).
const maxAuthData = 4 << 10

// authenticate serves a command of a connection that has not
// authenticated, as memcached 1.6.18 -Y does: only "set <key> <flags>
// <exptime> <bytes>" whose data is "<username> <password>" (further words
// ignored) is an attempt; anything else is answered "CLIENT_ERROR
// unauthenticated". noreply is ignored.
func (c *conn) authenticate(raw []byte) {
	c.line = append(c.line[:0], protocol.TrimLine(raw)...)
	n, _ := protocol.Tokenize(c.line, &c.toks)
	var size uint32
	ok := n >= 5 && string(c.toks[0]) == "set"
	if ok {
		size, ok = protocol.ParseArgUint32(c.toks[4])
	}
	if !ok {
		c.str("CLIENT_ERROR unauthenticated\r\n")
		return
	}
	if size > maxAuthData {
		c.quit = true
		return
	}
	data, err := c.readData(int(size))
	if err != nil {
		c.quit = true
		return
	}
	defer c.releaseData()
	if !dataEnds(data, int(size)) {
		c.str("CLIENT_ERROR bad command line termination\r\n")
		return
	}
	user, rest := protocol.NextToken(data[:size])
	pass, _ := protocol.NextToken(rest)
	if len(pass) == 0 {
		c.str("CLIENT_ERROR bad authentication token format\r\n")
		return
	}
	c.count(stAuthCmds)
	if !c.s.validCredential(user, pass) {
		c.count(stAuthErrors)
		c.s.log.Info("authentication failed", "remote", c.nc.RemoteAddr().String())
		c.str("CLIENT_ERROR authentication failure\r\n")
		return
	}
	c.authed = true
	c.str("STORED\r\n")
}

// validCredential reports whether user and pass are one of
// Config.Credentials, comparing every entry in constant time.
func (s *Server) validCredential(user, pass []byte) bool {
	found := 0
	for _, cr := range s.cfg.Credentials {
		u := subtle.ConstantTimeCompare(user, []byte(cr.Username))
		p := subtle.ConstantTimeCompare(pass, []byte(cr.Password))
		found |= u & p
	}
	return found == 1
}
