package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGossipKeyUsage(t *testing.T) {
	loose := filepath.Join(t.TempDir(), "loose.key")
	if err := os.WriteFile(loose, []byte("0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		rc   int
		want string
	}{
		{[]string{"gossip-key"}, 2, "want list, install, use or remove"},
		{[]string{"gossip-key", "-h"}, 0, ""},
		{[]string{"gossip-key", "rotate", "--admin", "127.0.0.1:1"}, 2, `unknown operation "rotate"`},
		{[]string{"gossip-key", "install", "--admin", "127.0.0.1:1"}, 2, "install needs --key-file"},
		{[]string{"gossip-key", "list"}, 2, "--admin is required"},
		{[]string{"gossip-key", "use", "--admin", "127.0.0.1:1", "--key-file", loose}, 1, "chmod 600"},
		{[]string{"status", "--seeds", "127.0.0.1:1", "--tls-cert", loose}, 2, "--tls-cert and --tls-key go together"},
	} {
		rc, _, errs := runCLI(c.args...)
		if rc != c.rc || !strings.Contains(errs, c.want) {
			t.Errorf("%q: rc %d, stderr %q; want rc %d and %q", c.args, rc, errs, c.rc, c.want)
		}
	}
}
