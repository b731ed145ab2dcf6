package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateKey(t *testing.T) {
	cases := []struct {
		key  string
		want error
	}{
		{"a", nil},
		{"user:42/profile", nil},
		{"Hello_世界", nil},
		{strings.Repeat("k", 250), nil},
		{"", ErrKeyEmpty},
		{strings.Repeat("k", 251), ErrKeyTooLong},
		{"has space", ErrKeyBadChar},
		{"tab\there", ErrKeyBadChar},
		{"nl\n", ErrKeyBadChar},
		{"cr\r", ErrKeyBadChar},
		{"nul\x00", ErrKeyBadChar},
		{"del\x7f", ErrKeyBadChar},
	}
	for _, c := range cases {
		if err := ValidateKey(c.key); !errors.Is(err, c.want) {
			t.Errorf("ValidateKey(%q) = %v, want %v", c.key, err, c.want)
		}
	}
}
