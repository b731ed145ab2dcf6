package protocol

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
)

// The text protocol, for nodes without the meta protocol (memcached before
// 1.6). Requests are written with the AppendText* functions; replies are read
// into the same Reply as meta replies, translated to meta codes so that one
// caller handles both: VALUE → VA, END → EN, STORED/DELETED/TOUCHED → HD,
// NOT_STORED → NS, EXISTS → EX, NOT_FOUND → NF, VERSION → MN, and an incr/decr
// result → VA with the number as the value. Text replies carry no opaque
// token and no TTL.

// AppendTextGet appends `gets <keys>\r\n`, or `gats <ttl> <keys>\r\n` when
// touch is set.
func AppendTextGet(dst []byte, touch bool, ttl int32, keys ...string) []byte {
	if touch {
		dst = strconv.AppendInt(append(dst, "gats "...), int64(ttl), 10)
	} else {
		dst = append(dst, "gets"...)
	}
	for _, k := range keys {
		dst = append(append(dst, ' '), k...)
	}
	return append(dst, crlf...)
}

// AppendTextStore appends `<cmd> <key> <flags> <ttl> <len> [<cas>]\r\n<value>\r\n`;
// cmd is set, add, replace, append, prepend or cas (cas writes casID).
func AppendTextStore(dst []byte, cmd, key string, flags uint32, ttl int32, value []byte, casID uint64) []byte {
	dst = append(append(append(dst, cmd...), ' '), key...)
	dst = strconv.AppendUint(append(dst, ' '), uint64(flags), 10)
	dst = strconv.AppendInt(append(dst, ' '), int64(ttl), 10)
	dst = strconv.AppendInt(append(dst, ' '), int64(len(value)), 10)
	if cmd == "cas" {
		dst = strconv.AppendUint(append(dst, ' '), casID, 10)
	}
	dst = append(dst, crlf...)
	dst = append(dst, value...)
	return append(dst, crlf...)
}

// AppendTextDelete appends `delete <key>\r\n`.
func AppendTextDelete(dst []byte, key string) []byte {
	return append(append(append(dst, "delete "...), key...), crlf...)
}

// AppendTextArith appends `incr|decr <key> <delta>\r\n`.
func AppendTextArith(dst []byte, decr bool, key string, delta uint64) []byte {
	if decr {
		dst = append(dst, "decr "...)
	} else {
		dst = append(dst, "incr "...)
	}
	dst = strconv.AppendUint(append(append(dst, key...), ' '), delta, 10)
	return append(dst, crlf...)
}

// AppendTextTouch appends `touch <key> <ttl>\r\n`.
func AppendTextTouch(dst []byte, key string, ttl int32) []byte {
	dst = strconv.AppendInt(append(append(append(dst, "touch "...), key...), ' '), int64(ttl), 10)
	return append(dst, crlf...)
}

// AppendTextVersion appends `version\r\n`.
func AppendTextVersion(dst []byte) []byte { return append(dst, "version\r\n"...) }

// ReadTextValue reads one line of a retrieval reply: `VALUE <key> <flags>
// <bytes> [<cas>]` and its data (Code VA, Key, ClientFlags, CAS, Value) or
// `END` (Code EN).
func ReadTextValue(br *bufio.Reader, r *Reply) error {
	line, err := readLine(br)
	if err != nil {
		return err
	}
	r.reset()
	if bytes.Equal(line, []byte("END")) {
		r.Code = CodeEN
		return nil
	}
	rest, ok := bytes.CutPrefix(line, []byte("VALUE "))
	if !ok {
		return textError(line)
	}
	key, rest := NextToken(rest)
	fl, rest := NextToken(rest)
	size, rest := NextToken(rest)
	casTok, rest := NextToken(rest)
	if extra, _ := NextToken(rest); extra != nil || len(key) == 0 {
		return fmt.Errorf("%w: bad VALUE line %q", ErrMalformed, line)
	}
	f, ok1 := ParseUint(fl, 32)
	n, ok2 := ParseUint(size, 31)
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: bad VALUE line %q", ErrMalformed, line)
	}
	if casTok != nil {
		if r.CAS, ok = ParseUint(casTok, 64); !ok {
			return fmt.Errorf("%w: bad VALUE line %q", ErrMalformed, line)
		}
		r.Ret |= RetCAS
	}
	r.Code, r.Size, r.ClientFlags = CodeVA, int(n), uint32(f)
	r.Ret |= RetFlagsValue | RetKey
	r.Key = append(r.Key[:0], key...)
	r.Value, err = ReadValue(br, r.Size, r.Value[:0])
	return err
}

// ReadTextStatus reads the one-line reply of a storage, delete, touch,
// incr/decr or version command.
func ReadTextStatus(br *bufio.Reader, r *Reply) error {
	line, err := readLine(br)
	if err != nil {
		return err
	}
	r.reset()
	switch {
	case bytes.Equal(line, []byte("STORED")), bytes.Equal(line, []byte("DELETED")), bytes.Equal(line, []byte("TOUCHED")):
		r.Code = CodeHD
	case bytes.Equal(line, []byte("NOT_STORED")):
		r.Code = CodeNS
	case bytes.Equal(line, []byte("EXISTS")):
		r.Code = CodeEX
	case bytes.Equal(line, []byte("NOT_FOUND")):
		r.Code = CodeNF
	case bytes.HasPrefix(line, []byte("VERSION ")):
		r.Code = CodeMN
	default:
		if _, ok := ParseUint(line, 64); ok {
			r.Code, r.Size = CodeVA, len(line)
			r.Value = append(r.Value[:0], line...)
			return nil
		}
		return textError(line)
	}
	return nil
}

func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("%w: reply line longer than %d bytes", ErrMalformed, br.Buffered())
		}
		return nil, unexpectedLine(line, err)
	}
	line = trimEOL(line)
	if len(line) > MaxLineLength {
		return nil, fmt.Errorf("%w: reply line longer than %d bytes", ErrMalformed, MaxLineLength)
	}
	return line, nil
}

func unexpectedLine(line []byte, err error) error {
	if len(line) > 0 {
		return unexpected(err)
	}
	return err
}

// textError maps an error line to its sentinel, or ErrMalformed.
func textError(line []byte) error {
	if len(line) == 0 {
		return fmt.Errorf("%w: empty line", ErrMalformed)
	}
	return parseErrorLine(line)
}
