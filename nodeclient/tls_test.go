package nodeclient

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testcert"
	"github.com/zonecache/zonecache/internal/testproc"
)

// TestMutualTLSZonecached: a zonecached requiring client certificates
// refuses a Node without one and serves a Node with one, over its pools
// and its breaker's probes.
func TestMutualTLSZonecached(t *testing.T) {
	certs := testcert.New(t)
	p := testproc.StartZonecached(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-client-ca", certs.CAFile)
	cfg := Config{DialTimeout: 5 * time.Second, Online: PoolConfig{Timeout: 10 * time.Second}}
	ctx := context.Background()

	cfg.TLS = certs.ClientTLS(false)
	anon := NewNode(p.Addr, cfg)
	defer anon.Close()
	if err := anon.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Set without a client certificate: %v, want ErrUnreachable", err)
	}

	cfg.TLS = certs.ClientTLS(true)
	n := NewNode(p.Addr, cfg)
	defer n.Close()
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Set with a client certificate: %v", err)
	}
	it, err := n.Online().Get(ctx, "k")
	if err != nil || !bytes.Equal(it.Value, []byte("v")) {
		t.Fatalf("Get = %q, %v; want v", it.Value, err)
	}
	if err := n.probe(ctx); err != nil {
		t.Fatalf("probe over TLS: %v", err)
	}
}
