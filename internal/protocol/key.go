package protocol

import "errors"

// MaxKeyLength is the longest key memcached accepts, in bytes.
const MaxKeyLength = 250

// Sentinel errors for invalid keys; test with errors.Is.
var (
	// ErrKeyEmpty is returned for a zero-length key.
	ErrKeyEmpty = errors.New("key is empty")
	// ErrKeyTooLong is returned for a key longer than MaxKeyLength bytes.
	ErrKeyTooLong = errors.New("key is longer than 250 bytes")
	// ErrKeyBadChar is returned for a key holding a space or a control
	// character, which the text protocol cannot carry.
	ErrKeyBadChar = errors.New("key contains a space or control character")
)

// ValidateKey reports whether key can be sent in a memcached text or meta
// command as is. It enforces the documented rule (no whitespace or control
// characters), which is stricter than what memcached's parser enforces.
func ValidateKey(key string) error {
	if len(key) == 0 {
		return ErrKeyEmpty
	}
	if len(key) > MaxKeyLength {
		return ErrKeyTooLong
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f {
			return ErrKeyBadChar
		}
	}
	return nil
}
