package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testcert"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
)

// TestSecurityWorkedExample runs the README's Security example on one
// node: TLS with client certificates, cache authentication, an admin
// token and a gossip key together, used by nodeclient and by the CLI's
// status and promote; each secret left out is refused.
func TestSecurityWorkedExample(t *testing.T) {
	certs := testcert.New(t)
	dir := t.TempDir()
	secret := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	token := secret("admin.token", "0123456789abcdef0123456789abcdef\n")
	gossip := secret("gossip.key", base64.StdEncoding.EncodeToString(key)+"\n")
	auth := secret("cache.auth", "app:s3cret-password\n")
	p, adminAddr := startTLSNode(t, certs, "--gossip-key-file", gossip, "--admin-token-file", token, "--auth-file", auth)
	ctx := context.Background()

	set := func(creds *nodeclient.Credentials) error {
		n := nodeclient.NewNode(p.Addr, nodeclient.Config{TLS: certs.ClientTLS(true), Auth: creds, DialTimeout: 10 * time.Second,
			Logger: quiet(), Online: nodeclient.PoolConfig{Timeout: 20 * time.Second}})
		defer n.Close()
		return n.Online().Set(ctx, nodeclient.Item{Key: "k", Value: []byte("v")})
	}
	if err := set(nil); !errors.Is(err, nodeclient.ErrAuth) {
		t.Fatalf("set over TLS without credentials: %v, want ErrAuth", err)
	}
	if err := set(&nodeclient.Credentials{Username: "app", Password: "wrong"}); !errors.Is(err, nodeclient.ErrAuth) {
		t.Fatalf("set with a wrong password: %v, want ErrAuth", err)
	}
	if err := set(&nodeclient.Credentials{Username: "app", Password: "s3cret-password"}); err != nil {
		t.Fatalf("set with TLS and credentials: %v", err)
	}

	cli := testproc.Binary(t, "zonecache")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(cli, args...).CombinedOutput()
		return string(out), err
	}
	tlsFlags := []string{"--tls-ca", certs.CAFile, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey}
	status := func(extra ...string) string {
		out, err := run(append(append([]string{"status", "--seeds", adminAddr, "--timeout", "20s"}, tlsFlags...), extra...)...)
		if err != nil {
			t.Fatalf("zonecache status %v: %v\n%s", extra, err, out)
		}
		return out
	}
	if out := status("--auth-file", auth); !itemsColumn(out, "1") {
		t.Fatalf("status with TLS and --auth-file does not count the item:\n%s", out)
	}
	if out := status(); !itemsColumn(out, "-") {
		t.Fatalf("status without --auth-file read the items:\n%s", out)
	}
	if out, err := run("promote", "--admin", adminAddr, "--to", "draining"); err == nil {
		t.Fatalf("promote without the admin token succeeded:\n%s", out)
	}
	if out, err := run("promote", "--admin", adminAddr, "--to", "draining", "--admin-token-file", token); err != nil || !strings.Contains(out, "draining") {
		t.Fatalf("promote with the admin token: %v\n%s", err, out)
	}
}
