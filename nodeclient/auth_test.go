package nodeclient

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// authFile writes an authfile with one user, alice:secret.
func authFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(path, []byte("alice:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A Node with credentials authenticates each new connection to memcached
// -Y and to zonecached --auth-file (meta and text-only); without them, or
// with a wrong password, every request fails with ErrAuth.
func TestAuthenticatedNodes(t *testing.T) {
	servers := map[string]func(t *testing.T) string{
		"memcached": func(t *testing.T) string { return testproc.StartMemcached(t, "-Y", authFile(t)).Addr },
		"zonecached": func(t *testing.T) string {
			return testproc.StartZonecached(t, "--auth-file", authFile(t)).Addr
		},
		"zonecached-text": func(t *testing.T) string {
			return testproc.StartZonecached(t, "--auth-file", authFile(t), "--disable-meta").Addr
		},
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			addr := start(t)
			ctx := testCtx(t)
			n := newTestNode(t, addr, Config{Online: relaxed, Auth: &Credentials{"alice", "secret"}})
			if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
				t.Fatalf("Set with credentials: %v", err)
			}
			if it, err := n.Online().Get(ctx, "k"); err != nil || string(it.Value) != "v" {
				t.Fatalf("Get with credentials: %+v, %v", it, err)
			}
			for _, cr := range []*Credentials{nil, {"alice", "wrong"}, {"mallory", "secret"}} {
				bad := newTestNode(t, addr, Config{Online: relaxed, Auth: cr})
				if _, err := bad.Online().Get(ctx, "k"); !errors.Is(err, ErrAuth) || !errors.Is(err, ErrUnreachable) {
					t.Errorf("credentials %v: %v, want ErrAuth and ErrUnreachable", cr, err)
				}
			}
		})
	}
}

// Credentials are sent only to a node that asks for them: a node without
// authentication would store them as an item.
func TestCredentialsNotSentToOpenNodes(t *testing.T) {
	addr := testproc.StartZonecached(t).Addr
	ctx := testCtx(t)
	n := newTestNode(t, addr, Config{Online: relaxed, Auth: &Credentials{"alice", "secret"}})
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Online().Get(ctx, "auth"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("the credentials' key: %v, want a miss", err)
	}
}
