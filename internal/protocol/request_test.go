package protocol

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseNumbersLikeMemcached(t *testing.T) {
	u64 := map[string]struct {
		v  uint64
		ok bool
	}{
		"0": {0, true}, "18446744073709551615": {1<<64 - 1, true}, "18446744073709551616": {0, false},
		"-1": {0, false}, "-0": {0, true}, "+5": {5, true}, " 7": {7, true}, "7\t": {7, true},
		"1x": {0, false}, "": {0, false}, "-": {0, false}, "abc": {0, false},
	}
	for in, want := range u64 {
		if v, ok := ParseArgUint64([]byte(in)); v != want.v || ok != want.ok {
			t.Errorf("ParseArgUint64(%q) = %d %v, want %d %v", in, v, ok, want.v, want.ok)
		}
	}
	i32 := map[string]struct {
		v  int32
		ok bool
	}{
		"0": {0, true}, "-1": {-1, true}, "2592000": {2592000, true}, "4294967297": {1, true},
		"9223372036854775807": {-1, true}, "9223372036854775808": {0, false}, "-9223372036854775808": {0, true},
		"x": {0, false}, "1 ": {1, true},
	}
	for in, want := range i32 {
		if v, ok := ParseArgInt32([]byte(in)); v != want.v || ok != want.ok {
			t.Errorf("ParseArgInt32(%q) = %d %v, want %d %v", in, v, ok, want.v, want.ok)
		}
	}
	if v, ok := ParseArgUint32([]byte("4294967296")); !ok || v != 0 {
		t.Errorf("flags 4294967296: %d %v (memcached truncates to 0)", v, ok)
	}
	for in, want := range map[string]bool{"5": true, "5 x": true, " 99": true, "": false, "x": false, "5x": false, "-5": false} {
		if _, ok := ParseCounter([]byte(in)); ok != want {
			t.Errorf("ParseCounter(%q) ok=%v want %v", in, ok, want)
		}
	}
}

func TestTokenizeCapsAt23Tokens(t *testing.T) {
	var toks [MaxTokens][]byte
	n, more := Tokenize([]byte("  a  b c "), &toks)
	if n != 3 || more || string(toks[0]) != "a" || string(toks[2]) != "c" {
		t.Fatalf("got %d %v %q", n, more, toks[:n])
	}
	n, more = Tokenize([]byte(strings.Repeat("x ", 30)), &toks)
	if n != MaxTokens-1 || !more {
		t.Fatalf("30 tokens: n=%d more=%v", n, more)
	}
}

// FuzzNumbers checks the memcached-style number parsers against strconv on
// plain decimal input and that they never panic on anything else.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"0", "1", "-1", "+1", " 1", "18446744073709551615", "18446744073709551616",
		"9223372036854775808", "-9223372036854775809", "4294967296", "1x", "", " ", "\t-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		u, uok := ParseArgUint64(b)
		i, iok := ParseArgInt32(b)
		_, _ = ParseCounter(b)
		digits := s != "" && strings.Trim(s, "0123456789") == ""
		if !digits {
			return
		}
		want, err := strconv.ParseUint(s, 10, 64)
		if (err == nil) != uok || (uok && u != want) {
			t.Fatalf("ParseArgUint64(%q) = %d %v; strconv %d %v", s, u, uok, want, err)
		}
		w64, err := strconv.ParseInt(s, 10, 64)
		if (err == nil) != iok || (iok && i != int32(w64)) {
			t.Fatalf("ParseArgInt32(%q) = %d %v; strconv %d %v", s, i, iok, w64, err)
		}
	})
}
