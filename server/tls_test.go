package server

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testcert"
)

func TestTLS(t *testing.T) {
	certs := testcert.New(t)
	_, addr := startServer(t, Config{TLS: certs.ServerTLS(false)})
	d := &net.Dialer{Timeout: ioDeadline}
	tc, err := tls.DialWithDialer(d, "tcp", addr, certs.ClientTLS(false))
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(ioDeadline))
	if _, err := tc.Write([]byte("set k 0 0 2\r\nhi\r\nget k\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(tc)
	var got string
	for _, want := range []string{"STORED\r\n", "VALUE k 0 2\r\n", "hi\r\n", "END\r\n"} {
		line, err := r.ReadString('\n')
		got += line
		if err != nil || line != want {
			t.Fatalf("over TLS got %q (%v), want %q", got, err, want)
		}
	}
	// A plaintext client gets no protocol replies from a TLS server.
	c := dial(t, addr)
	c.send("version\r\n")
	out, _ := c.closed()
	if len(out) >= 7 && out[:7] == "VERSION" {
		t.Fatalf("plaintext client was served: %q", out)
	}
}

// tlsRoundTrip dials addr over TLS and runs `version`.
func tlsRoundTrip(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: ioDeadline}
	tc, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(ioDeadline))
	if _, err := tc.Write([]byte("version\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("reply %q", line)
	}
	return nil
}

func TestMutualTLS(t *testing.T) {
	certs := testcert.New(t)
	_, addr := startServer(t, Config{TLS: certs.ServerTLS(true)})
	if err := tlsRoundTrip(addr, certs.ClientTLS(false)); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if err := tlsRoundTrip(addr, certs.ClientTLS(true)); err != nil {
		t.Fatalf("a client with a certificate: %v", err)
	}
}

// TestTLSHandshakeTimeout: connections that never send a ClientHello fill
// every slot of MaxConns, and are closed after the handshake timeout, so a
// real client gets in.
func TestTLSHandshakeTimeout(t *testing.T) {
	certs := testcert.New(t)
	const maxConns = 4
	_, addr := startServer(t, Config{TLS: certs.ServerTLS(false), MaxConns: maxConns, TLSHandshakeTimeout: 200 * time.Millisecond})
	for range maxConns + 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	deadline := time.Now().Add(ioDeadline)
	for {
		err := tlsRoundTrip(addr, certs.ClientTLS(false))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TLS client locked out by silent connections: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
