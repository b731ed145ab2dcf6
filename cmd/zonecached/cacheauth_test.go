package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/authfile"
	"github.com/zonecache/zonecache/server"
)

// The cache port's flags reach server.Config; an authfile readable by
// group or others, a zero --value-timeout and a negative --idle-timeout
// are refused.
func TestCachePortFlags(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	if err := os.WriteFile(auth, []byte("alice:secret\nbob:pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-Y", auth, "-F", "--idle-timeout", "5m", "--value-timeout", "3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []server.Credential{{Username: "alice", Password: "secret"}, {Username: "bob", Password: "pw"}}
	if !reflect.DeepEqual(o.cfg.Credentials, want) || !o.cfg.DisableFlushAll || o.cfg.IdleTimeout != 5*time.Minute || o.cfg.ValueTimeout != 3*time.Second {
		t.Fatalf("config %+v", o.cfg)
	}
	if o, err = parseFlags(nil, io.Discard); err != nil || o.cfg.Credentials != nil || o.cfg.DisableFlushAll || o.cfg.IdleTimeout != 0 || o.cfg.ValueTimeout != server.DefaultValueTimeout {
		t.Fatalf("defaults: %+v, %v", o.cfg, err)
	}
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("alice:secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseFlags([]string{"--auth-file", open}, io.Discard); !errors.Is(err, authfile.ErrPermissive) {
		t.Errorf("world-readable authfile: %v", err)
	}
	for _, bad := range [][]string{{"--value-timeout", "0"}, {"--idle-timeout", "-1s"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
