package protocol

import "bytes"

// The server side: splitting request lines and reading their numbers the
// way memcached 1.6 does, quirks included, so that a node answers a
// malformed request exactly as memcached does.

// MaxTokens mirrors memcached's tokenizer: at most MaxTokens-1 tokens are
// split off a request line, the rest of it is left unprocessed.
const MaxTokens = 24

// TrimLine drops a request line's '\n', a '\r' before it (only when
// something precedes it, as in memcached) and everything from a NUL byte on
// (memcached reads the line as a C string).
func TrimLine(b []byte) []byte {
	b = b[:len(b)-1]
	if len(b) > 1 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b
}

// Tokenize splits line on single spaces the way memcached does and returns
// the number of tokens stored in toks. If the line holds more than
// MaxTokens-1 tokens, the count is MaxTokens-1 and more is true.
func Tokenize(line []byte, toks *[MaxTokens][]byte) (n int, more bool) {
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			break
		}
		if n == MaxTokens-1 {
			return n, true
		}
		j := i
		for j < len(line) && line[j] != ' ' {
			j++
		}
		toks[n] = line[i:j]
		n++
		i = j
	}
	return n, false
}

// IsMultiGetLine reports whether a line that has no newline yet may grow
// beyond MaxLineLength: memcached lets get and gets lines be unbounded.
func IsMultiGetLine(b []byte) bool {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i > 100 {
		return false
	}
	b = b[i:]
	return bytes.HasPrefix(b, []byte("get ")) || bytes.HasPrefix(b, []byte("gets "))
}

// ParseArgUint64 reads a request argument as memcached's safe_strtoull
// does: leading white space and a sign are accepted, a negative number is
// refused unless it wraps to a value below 2^63.
func ParseArgUint64(s []byte) (uint64, bool) {
	if v, ok := plainDigits(s); ok {
		return v, true
	}
	v, n, neg, overflow := strtoull(s)
	if n == 0 || overflow || !endOK(s, n) {
		return 0, false
	}
	if neg {
		v = -v
	}
	if int64(v) < 0 && bytes.IndexByte(s[:n], '-') >= 0 {
		return 0, false
	}
	return v, true
}

// ParseArgUint32 is memcached's safe_strtoul: a 64-bit parse truncated to
// 32 bits (so flags 4294967296 are accepted as 0).
func ParseArgUint32(s []byte) (uint32, bool) {
	v, ok := ParseArgUint64(s)
	return uint32(v), ok
}

// ParseArgInt32 is memcached's safe_strtol: a 64-bit signed parse
// truncated to 32 bits.
func ParseArgInt32(s []byte) (int32, bool) {
	if v, ok := plainDigits(s); ok {
		return int32(int64(v)), true
	}
	v, n, neg, overflow := strtoull(s)
	if n == 0 || !endOK(s, n) {
		return 0, false
	}
	// strtol's range is int64: anything beyond saturates with ERANGE.
	if overflow || (!neg && v > 1<<63-1) || (neg && v > 1<<63) {
		return 0, false
	}
	if neg {
		return int32(-int64(v)), true
	}
	return int32(int64(v)), true
}

// ParseCounter reads the number stored in an item for incr, decr and ma, as
// memcached's safe_strtoull does: the value is followed by "\r\n" in
// memcached's memory, so the parse may stop anywhere a space follows.
func ParseCounter(v []byte) (uint64, bool) {
	n, k, neg, overflow := strtoull(v)
	if k == 0 || overflow {
		return 0, false
	}
	if neg {
		n = -n
	}
	if k < len(v) && !cspace(v[k]) {
		return 0, false
	}
	if int64(n) < 0 && bytes.IndexByte(v[:k], '-') >= 0 {
		return 0, false
	}
	return n, true
}

// cspace reports whether c is a space for C's isspace.
func cspace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// plainDigits reads s when it is only decimal digits, at most 18 of them:
// the common case, which strtoull's rules read alike (no space, no sign, no
// overflow, below 2^63) in a loop without their checks.
func plainDigits(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + uint64(d)
	}
	return v, true
}

// strtoull scans like C's strtoull(s, &end, 10): leading white space, an
// optional sign, decimal digits. It returns the magnitude, the number of
// bytes consumed (0 when no digits were found), the sign and whether the
// magnitude overflowed 64 bits.
func strtoull(s []byte) (v uint64, n int, neg, overflow bool) {
	i := 0
	for i < len(s) && cspace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if v > (^uint64(0)-d)/10 {
			overflow = true
		}
		v = v*10 + d
		i++
	}
	if i == start {
		return 0, 0, false, false
	}
	return v, i, neg, overflow
}

// endOK reports whether a parse of s that consumed n bytes stopped where
// memcached's safe_strto* helpers accept it: at the end of the token or at a
// space.
func endOK(s []byte, n int) bool {
	return n == len(s) || cspace(s[n])
}
