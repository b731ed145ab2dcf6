package authfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	got, err := Parse([]byte("alice:secret\r\n\nbob:p:w d\n"))
	want := []Entry{{"alice", "secret"}, {"bob", "p:w d"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "\n", "alice\n", ":pw\n", "alice:\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestLoadRefusesPermissiveFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(path, []byte("u:p\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrPermissive) {
		t.Fatalf("group-readable file: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if e, err := LoadOne(path); err != nil || e != (Entry{"u", "p"}) {
		t.Fatalf("LoadOne = %v, %v", e, err)
	}
	if err := os.WriteFile(path, []byte("u:p\nv:q\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOne(path); err == nil {
		t.Fatal("LoadOne accepted two users")
	}
}
