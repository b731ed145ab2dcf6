package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zonecache/zonecache/internal/testcert"
	"github.com/zonecache/zonecache/membership"
	"github.com/zonecache/zonecache/server"
)

func TestTLSFlags(t *testing.T) {
	certs := testcert.New(t)
	var errs bytes.Buffer
	o, err := parseFlags([]string{"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-client-ca", certs.CAFile}, &errs)
	if err != nil || o.cfg.TLS == nil || o.cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert || o.cfg.TLS.ClientCAs == nil {
		t.Fatalf("--tls-client-ca: %+v, %v", o.cfg.TLS, err)
	}
	if o.cfg.TLSHandshakeTimeout != server.DefaultTLSHandshakeTimeout {
		t.Fatalf("handshake timeout %v, want the default", o.cfg.TLSHandshakeTimeout)
	}
	for name, args := range map[string][]string{
		"client CA without a certificate": {"--tls-client-ca", certs.CAFile},
		"client CA not PEM":               {"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-client-ca", os.DevNull},
		"zero handshake timeout":          {"--tls-handshake-timeout", "0s"},
	} {
		if _, err := parseFlags(args, &errs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGossipKeyFlags(t *testing.T) {
	key := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(key, []byte("0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	var errs bytes.Buffer
	if _, err := parseFlags([]string{"--zone", "a", "--gossip-key-file", key, "--gossip-insecure"}, &errs); err == nil {
		t.Fatal("--gossip-key-file with --gossip-insecure: accepted")
	}
	if _, err := readGossipKey(key); err != nil {
		t.Fatalf("key file of mode 0600: %v", err)
	}
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := readGossipKey(key); !errors.Is(err, membership.ErrKeyFileMode) {
		t.Fatalf("key file of mode 0640: %v, want ErrKeyFileMode", err)
	}
}
