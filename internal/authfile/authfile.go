// Package authfile reads memcached's text-protocol authfile (-Y): one
// "username:password" line per user. zonecached reads it for the users it
// accepts; the zonecache CLI and zonebench read a one-line file for the
// credentials they send. Files readable by group or others are refused,
// as the passwords are in clear.
package authfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/zonecache/zonecache/nodeclient"
)

// ErrPermissive means the file can be read by its group or by others.
var ErrPermissive = errors.New("authfile: readable by group or others (chmod 600 it)")

// Entry is one user of an authfile.
type Entry struct {
	Username, Password string
}

// Parse reads authfile lines: "username:password", the password running
// to the end of the line (a trailing "\r" dropped), as memcached reads
// them. Blank lines are skipped.
func Parse(data []byte) ([]Entry, error) {
	var entries []Entry
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		user, pass, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(user) == 0 || len(pass) == 0 {
			return nil, fmt.Errorf("authfile: line %d: want username:password", i+1)
		}
		entries = append(entries, Entry{Username: string(user), Password: string(pass)})
	}
	if len(entries) == 0 {
		return nil, errors.New("authfile: no username:password line")
	}
	return entries, nil
}

// Load reads and parses the authfile at path, refusing one that its group
// or others can read (ErrPermissive).
func Load(path string) ([]Entry, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("authfile: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrPermissive)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authfile: %w", err)
	}
	entries, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

// Credentials loads a client's --auth-file for nodeclient.Config.Auth:
// nil when path is empty.
func Credentials(path string) (*nodeclient.Credentials, error) {
	if path == "" {
		return nil, nil
	}
	e, err := LoadOne(path)
	if err != nil {
		return nil, fmt.Errorf("--auth-file: %w", err)
	}
	return &nodeclient.Credentials{Username: e.Username, Password: e.Password}, nil
}

// LoadOne loads a client's authfile, which must hold exactly one user.
func LoadOne(path string) (Entry, error) {
	entries, err := Load(path)
	if err != nil {
		return Entry{}, err
	}
	if len(entries) != 1 {
		return Entry{}, fmt.Errorf("%s: want one username:password line, got %d", path, len(entries))
	}
	return entries[0], nil
}
