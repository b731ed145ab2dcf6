package server

import (
	"encoding/binary"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// TestRepliesFlushedBeforeWaitingForRestOfCommand sends complete commands
// followed by the start of another and waits for the replies without
// sending the rest: memcached answers at once, and so must zonecached, or a
// client that waits for replies before sending more hangs.
func TestRepliesFlushedBeforeWaitingForRestOfCommand(t *testing.T) {
	testproc.RequireMemcached(t)
	mc := testproc.StartMemcached(t)
	_, zc := startServer(t, Config{})
	partial := map[string]string{
		"get":     "get nokey\r\nge",
		"storage": "set a 0 0 1\r\nx\r\nget a\r\nset b 0 0 5\r\nab",
		"meta":    "ms m 1\r\ny\r\nmg m v\r\nmg m",
		"line":    "delete nokey\r\n",
	}
	want := map[string]string{
		"get":     "END\r\n",
		"storage": "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n",
		"meta":    "HD\r\nVA 1\r\ny\r\n",
		"line":    "NOT_FOUND\r\n",
	}
	for name, script := range partial {
		t.Run(name, func(t *testing.T) {
			for _, addr := range []string{mc.Addr, zc} {
				c := dial(t, addr)
				c.send(script)
				if got := c.readUntil(want[name]); got != want[name] {
					t.Errorf("%s: got %q, want %q", addr, got, want[name])
				}
			}
		})
	}
}

// TestBinaryRequestClosesConnection sends a binary-protocol get: the
// server, which speaks only the text protocols, must close the connection
// at once rather than leave the client waiting in silence.
func TestBinaryRequestClosesConnection(t *testing.T) {
	_, addr := startServer(t, Config{})
	for name, prefix := range map[string]string{"first": "", "after text": "get nokey\r\n"} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			req := make([]byte, 24, 25)
			req[0] = 0x80 // request magic
			binary.BigEndian.PutUint16(req[2:], 1) // key length
			binary.BigEndian.PutUint32(req[8:], 1) // body length
			req = append(req, 'a')
			c.send(prefix + string(req))
			out, closed := c.closed()
			if !closed {
				t.Fatalf("connection still open after a binary request (got %q)", out)
			}
			if want := map[string]string{"first": "", "after text": "END\r\n"}[name]; out != want {
				t.Errorf("got %q before the close, want %q", out, want)
			}
		})
	}
}
