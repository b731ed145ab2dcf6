package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "zonecached test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	_, addr := startServer(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	d := &net.Dialer{Timeout: ioDeadline}
	tc, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool})
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
