package admin_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zonecache/zonecache/admin"
)

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	const good = "0123456789abcdef0123"
	if tok, err := admin.ReadTokenFile(write("ok", "\n "+good+"\n", 0o600)); err != nil || tok != good {
		t.Fatalf("ReadTokenFile = %q, %v; want %q", tok, err, good)
	}
	if tok, err := admin.ReadTokenFile(write("ro", good, 0o400)); err != nil || tok != good {
		t.Fatalf("mode 0400: %q, %v", tok, err)
	}
	for name, c := range map[string]struct {
		text string
		mode os.FileMode
	}{
		"world": {good, 0o644}, "group": {good, 0o640}, "groupw": {good, 0o620},
		"short": {"0123456789", 0o600}, "empty": {"", 0o600}, "two": {good + " " + good, 0o600}, "ctl": {good + "\x01", 0o600},
	} {
		if _, err := admin.ReadTokenFile(write(name, c.text, c.mode)); !errors.Is(err, admin.ErrTokenFile) {
			t.Errorf("%s (%q, %#o): %v; want admin.ErrTokenFile", name, c.text, c.mode, err)
		}
	}
	if _, err := admin.ReadTokenFile(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v; want os.ErrNotExist", err)
	}
}
