package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Code is the return code of a meta reply.
type Code uint8

// Return codes of the meta protocol.
const (
	CodeNone Code = iota // no reply parsed yet
	CodeVA               // VA: value follows
	CodeHD               // HD: success, no value
	CodeEN               // EN: miss (mg)
	CodeNS               // NS: not stored (ms)
	CodeEX               // EX: CAS mismatch or exists
	CodeNF               // NF: not found
	CodeMN               // MN: answer to mn
)

var codeNames = [...]string{"none", "VA", "HD", "EN", "NS", "EX", "NF", "MN"}

// String returns the two-letter code.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", c)
}

// RetFlags records which return flags a reply carried.
type RetFlags uint16

// Return flags of a meta reply.
const (
	RetCAS        RetFlags = 1 << iota // c<cas>
	RetFlagsValue                      // f<client flags>
	RetTTL                             // t<secs>
	RetSize                            // s<size>
	RetKey                             // k<key>
	RetOpaque                          // O<token>
	RetBase64                          // b: the returned key is base64
	RetHitBefore                       // h<0|1>
	RetLastAccess                      // l<secs>
	RetWon                             // W: this client won the right to recache
	RetStale                           // X: the item is stale
	RetWinSent                         // Z: a win token was already sent to another client
)

// MaxLineLength is the longest line either side accepts: memcached closes a
// connection whose request line grows past it (multi-key gets excepted), and
// a longer reply line is ErrMalformed. A reader passed to ReadHeader must
// buffer at least this.
const MaxLineLength = 2048

// Reply is one parsed meta reply. Key, Opaque and Value are owned by the
// Reply and reused by the next parse into it, so parsing into a reused Reply
// does not allocate once its buffers have grown.
type Reply struct {
	Code        Code
	Size        int      // value length of a VA reply
	Ret         RetFlags // which return flags were present
	CAS         uint64
	ClientFlags uint32
	TTL         int64 // remaining seconds, -1 = never expires
	ItemSize    int64
	HitBefore   bool
	LastAccess  int64
	Key         []byte
	Opaque      []byte
	Value       []byte
}

// Has reports whether the reply carried the return flag f.
func (r *Reply) Has(f RetFlags) bool { return r.Ret&f != 0 }

// OpaqueUint32 returns the opaque token as a number when it is one.
func (r *Reply) OpaqueUint32() (uint32, bool) {
	if r.Ret&RetOpaque == 0 {
		return 0, false
	}
	v, ok := ParseUint(r.Opaque, 32)
	return uint32(v), ok
}

func (r *Reply) reset() {
	*r = Reply{Key: r.Key[:0], Opaque: r.Opaque[:0], Value: r.Value[:0]}
}

// ReadReply reads one whole reply: its header line and, for VA, the value
// into r.Value. Error replies come back as errors wrapping ErrServerError,
// ErrClientError or ErrUnknownCommand (the connection stays in step); an
// unparseable reply wraps ErrMalformed and an I/O failure is returned as is.
func ReadReply(br *bufio.Reader, r *Reply) error {
	if err := ReadHeader(br, r); err != nil {
		return err
	}
	if r.Code != CodeVA {
		return nil
	}
	v, err := ReadValue(br, r.Size, r.Value[:0])
	r.Value = v
	return err
}

// ReadHeader reads and parses one reply line into r. For a VA reply the
// caller must then read r.Size bytes of value with ReadValue.
func ReadHeader(br *bufio.Reader, r *Reply) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("%w: reply line longer than %d bytes", ErrMalformed, br.Buffered())
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return ParseHeader(line, r)
}

// ParseHeader parses one reply line (with or without its line ending).
func ParseHeader(line []byte, r *Reply) error {
	r.reset()
	line = trimEOL(line)
	if len(line) > MaxLineLength {
		return fmt.Errorf("%w: reply line longer than %d bytes", ErrMalformed, MaxLineLength)
	}
	if len(line) < 2 {
		return fmt.Errorf("%w: %q", ErrMalformed, line)
	}
	if line[0] >= 'A' && line[0] <= 'Z' && (len(line) == 2 || line[2] == ' ') {
		switch string(line[:2]) {
		case "VA":
			r.Code = CodeVA
		case "HD":
			r.Code = CodeHD
		case "EN":
			r.Code = CodeEN
		case "NS":
			r.Code = CodeNS
		case "EX":
			r.Code = CodeEX
		case "NF":
			r.Code = CodeNF
		case "MN":
			r.Code = CodeMN
		}
	}
	if r.Code == CodeNone {
		return parseErrorLine(line)
	}
	rest := line[2:]
	if r.Code == CodeVA {
		tok, more := NextToken(rest)
		n, ok := ParseUint(tok, 31)
		if !ok {
			return fmt.Errorf("%w: bad VA length in %q", ErrMalformed, line)
		}
		r.Size = int(n)
		rest = more
	}
	for {
		var tok []byte
		tok, rest = NextToken(rest)
		if tok == nil {
			return nil
		}
		if err := r.parseFlag(tok); err != nil {
			return fmt.Errorf("%w: %v in %q", ErrMalformed, err, line)
		}
	}
}

func (r *Reply) parseFlag(tok []byte) error {
	val := tok[1:]
	var ok bool
	switch tok[0] {
	case 'c':
		r.Ret |= RetCAS
		r.CAS, ok = ParseUint(val, 64)
	case 'f':
		r.Ret |= RetFlagsValue
		var v uint64
		v, ok = ParseUint(val, 32)
		r.ClientFlags = uint32(v)
	case 't':
		r.Ret |= RetTTL
		r.TTL, ok = parseInt(val)
	case 's':
		r.Ret |= RetSize
		r.ItemSize, ok = parseInt(val)
	case 'l':
		r.Ret |= RetLastAccess
		r.LastAccess, ok = parseInt(val)
	case 'h':
		r.Ret |= RetHitBefore
		ok = len(val) == 1 && (val[0] == '0' || val[0] == '1')
		r.HitBefore = ok && val[0] == '1'
	case 'k':
		r.Ret |= RetKey
		r.Key = append(r.Key[:0], val...)
		ok = len(val) > 0
	case 'O':
		r.Ret |= RetOpaque
		r.Opaque = append(r.Opaque[:0], val...)
		ok = true
	case 'b':
		r.Ret |= RetBase64
		ok = len(val) == 0
	case 'W':
		r.Ret |= RetWon
		ok = len(val) == 0
	case 'X':
		r.Ret |= RetStale
		ok = len(val) == 0
	case 'Z':
		r.Ret |= RetWinSent
		ok = len(val) == 0
	default:
		// A flag this codec does not know (a newer server): skip it.
		ok = true
	}
	if !ok {
		return fmt.Errorf("bad flag token %q", tok)
	}
	return nil
}

// ReadValue reads a value of size bytes followed by \r\n, appending it to
// dst[:0]. It grows dst as data arrives, so a hostile length does not
// allocate memory ahead of the bytes that back it.
func ReadValue(br *bufio.Reader, size int, dst []byte) ([]byte, error) {
	dst = dst[:0]
	const chunk = 64 << 10
	for len(dst) < size {
		want := min(size-len(dst), chunk)
		if len(dst) == 0 && size <= chunk {
			want = size
		}
		n := len(dst)
		dst = growLen(dst, want)
		if _, err := io.ReadFull(br, dst[n:]); err != nil {
			return dst[:n], unexpected(err)
		}
	}
	return dst, readCRLF(br)
}

// readCRLF consumes the \r\n that ends a data block.
func readCRLF(br *bufio.Reader) error {
	end, err := br.Peek(2)
	if err != nil {
		return unexpected(err)
	}
	if end[0] != '\r' || end[1] != '\n' {
		return fmt.Errorf("%w: value not followed by \\r\\n", ErrMalformed)
	}
	_, _ = br.Discard(2)
	return nil
}

// DiscardValue skips a value of size bytes and its \r\n.
func DiscardValue(br *bufio.Reader, size int) error {
	if _, err := br.Discard(size); err != nil {
		return unexpected(err)
	}
	return readCRLF(br)
}

func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, max(len(b)+n, 2*cap(b)))
	copy(nb, b)
	return nb
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func parseErrorLine(line []byte) error {
	switch {
	case bytes.Equal(line, []byte("ERROR")):
		return ErrUnknownCommand
	case bytes.HasPrefix(line, []byte("ERROR ")):
		return fmt.Errorf("%w: %s", ErrUnknownCommand, line[len("ERROR "):])
	case bytes.HasPrefix(line, []byte("CLIENT_ERROR")):
		return fmt.Errorf("%w: %s", ErrClientError, bytes.TrimSpace(line[len("CLIENT_ERROR"):]))
	case bytes.HasPrefix(line, []byte("SERVER_ERROR")):
		return fmt.Errorf("%w: %s", ErrServerError, bytes.TrimSpace(line[len("SERVER_ERROR"):]))
	}
	return fmt.Errorf("%w: unknown reply %q", ErrMalformed, line)
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// NextToken returns the first space-separated token of b and what follows
// it; tok is nil when none is left. Repeated spaces are skipped. Requests
// and replies are split with it.
func NextToken(b []byte) (tok, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	if len(b) == 0 {
		return nil, nil
	}
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i:]
}

// ParseUint parses a decimal number of at most 20 digits, no sign and no
// spaces, that fits in bits bits. It is the strict parser of numbers in
// replies; the server parses requests with memcached's laxer strtoull rules.
func ParseUint(b []byte, bits uint) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if bits < 64 && v >= 1<<bits {
		return 0, false
	}
	return v, true
}

func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	v, ok := ParseUint(b, 63)
	if neg {
		return -int64(v), ok
	}
	return int64(v), ok
}
