package membership

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

var (
	// ErrBadKey is wrapped by the error of a gossip key that is not 16, 24
	// or 32 bytes, raw or base64.
	ErrBadKey = errors.New("membership: want a gossip key of 16, 24 or 32 bytes, raw or base64")
	// ErrKeyFileMode is wrapped by ReadKeyFile's error for a key file its
	// group or others may access.
	ErrKeyFileMode = errors.New("membership: gossip key file accessible by group or others (chmod 600 it)")
)

// ReadKeyFile reads a gossip key (ParseKey) from a file that only its
// owner may access: a key others can read lets them join the fleet.
func ReadKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o: %w", path, mode, ErrKeyFileMode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKey(string(b))
}

// ParseKey reads a 16, 24 or 32 byte key, raw or base64, ignoring
// surrounding white space. Text that decodes as standard base64 to 16, 24
// or 32 bytes is base64: so a raw 32-byte key made only of base64
// characters is read as the 24-byte key it encodes (every node reads it
// alike, so the fleet still agrees).
func ParseKey(text string) ([]byte, error) {
	s := strings.TrimSpace(text)
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && validKeyLen(len(k)) {
		return k, nil
	}
	if validKeyLen(len(s)) {
		return []byte(s), nil
	}
	return nil, ErrBadKey
}

func validKeyLen(n int) bool { return n == 16 || n == 24 || n == 32 }
