package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/testcert"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
)

// startTLSNode starts a serving fleet node that speaks TLS only and
// requires client certificates signed by certs' CA, with an admin address.
func startTLSNode(t *testing.T, certs *testcert.Set, extra ...string) (*testproc.Process, string) {
	t.Helper()
	adminAddr := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	args := append([]string{"--zone", "a", "--node-name", "a-1", "--state", "serving", "--gossip-addr", "127.0.0.1:0",
		"--gossip-profile", "local", "--admin-addr", adminAddr,
		"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-client-ca", certs.CAFile}, extra...)
	return testproc.StartZonecached(t, args...), adminAddr
}

// TestTLSFleetNodeWithClientCA: a node requiring client certificates
// refuses a client without one, and serves nodeclient, the smart client
// and the CLI's status when they present one.
func TestTLSFleetNodeWithClientCA(t *testing.T) {
	certs := testcert.New(t)
	p, adminAddr := startTLSNode(t, certs)
	ctx := context.Background()

	node := func(tlsCfg *tls.Config) *nodeclient.Node {
		n := nodeclient.NewNode(p.Addr, nodeclient.Config{TLS: tlsCfg, DialTimeout: 10 * time.Second, Logger: quiet(),
			Online: nodeclient.PoolConfig{Timeout: 20 * time.Second}})
		t.Cleanup(func() { n.Close() })
		return n
	}
	if err := node(certs.ClientTLS(false)).Online().Set(ctx, nodeclient.Item{Key: "k", Value: []byte("v")}); !errors.Is(err, nodeclient.ErrUnreachable) {
		t.Fatalf("set without a client certificate: %v, want ErrUnreachable", err)
	}
	if err := node(nil).Online().Set(ctx, nodeclient.Item{Key: "k", Value: []byte("v")}); !errors.Is(err, nodeclient.ErrUnreachable) {
		t.Fatalf("set in plain TCP: %v, want ErrUnreachable", err)
	}
	if err := node(certs.ClientTLS(true)).Online().Set(ctx, nodeclient.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("set with a client certificate: %v", err)
	}

	top, err := discovery.Fetch(ctx, discovery.Config{Seeds: []string{adminAddr}, Logger: quiet()})
	if err != nil || len(top.Nodes) != 1 {
		t.Fatalf("topology %v, %v", top, err)
	}
	c, err := client.New(client.Config{Zone: "a", Topology: top, Logger: quiet(),
		Node: nodeclient.Config{TLS: certs.ClientTLS(true), DialTimeout: 10 * time.Second, Online: nodeclient.PoolConfig{Timeout: 20 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Set(ctx, client.Item{Key: "smart", Value: []byte("tls")}); err != nil {
		t.Fatalf("smart client set over TLS: %v", err)
	}
	if it, err := c.Get(ctx, "smart"); err != nil || !bytes.Equal(it.Value, []byte("tls")) {
		t.Fatalf("smart client get over TLS: %q, %v", it.Value, err)
	}

	cli := testproc.Binary(t, "zonecache")
	status := func(args ...string) string {
		out, err := exec.Command(cli, append([]string{"status", "--seeds", adminAddr, "--timeout", "20s"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("zonecache status %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := status("--tls-ca", certs.CAFile, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey); !itemsColumn(out, "2") {
		t.Fatalf("status over TLS does not count the 2 items:\n%s", out)
	}
	if out := status(); !itemsColumn(out, "-") {
		t.Fatalf("status without TLS read the items:\n%s", out)
	}
}

// itemsColumn reports whether the status table's only node has ITEMS want.
func itemsColumn(out, want string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "a-1" {
			return f[4] == want
		}
	}
	return false
}

// TestTLSHandshakeTimeoutSilentClients: 1,030 connections that never send
// a ClientHello (more than -c 1024) do not lock out a real TLS client: the
// handshake timeout (5 s by default) closes them and frees their slots.
func TestTLSHandshakeTimeoutSilentClients(t *testing.T) {
	certs := testcert.New(t)
	p := testproc.StartZonecached(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey)
	const silent = 1030
	for i := range silent {
		c, err := net.DialTimeout("tcp", p.Addr, 10*time.Second)
		if err != nil {
			t.Fatalf("silent connection %d: %v", i, err)
		}
		defer c.Close()
	}
	start := time.Now()
	var first error
	testproc.Eventually(t, 60*time.Second, "a TLS client served after the silent connections", func() bool {
		err := tlsVersion(p.Addr, certs.ClientTLS(false))
		if first == nil {
			first = err
		}
		return err == nil
	})
	t.Logf("a TLS client was served %v after %d silent connections opened (first attempt: %v)", time.Since(start).Round(time.Millisecond), silent, first)
}

// tlsVersion runs `version` over a new TLS connection.
func tlsVersion(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "VERSION ") {
		return fmt.Errorf("reply %q", buf[:n])
	}
	return nil
}
