package protocol

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"testing"
)

// parsedRequest is a request line as the server reads it: its tokens and
// the data block that follows.
type parsedRequest struct {
	toks [MaxTokens][]byte
	n    int
	more bool
	data []byte
}

// parseRequest splits one encoded request the way the server does: the line
// up to '\n', trimmed and tokenized, then a data block of dataLen bytes.
func parseRequest(t *testing.T, b []byte, dataLen int) *parsedRequest {
	t.Helper()
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		t.Fatalf("no newline in %q", b)
	}
	p := &parsedRequest{}
	p.n, p.more = Tokenize(TrimLine(b[:i+1]), &p.toks)
	rest := b[i+1:]
	if dataLen >= 0 {
		if len(rest) != dataLen+2 || !bytes.HasSuffix(rest, crlf) {
			t.Fatalf("data block of %q is not %d bytes and \\r\\n", b, dataLen)
		}
		p.data, rest = rest[:dataLen], nil
	}
	if len(rest) != 0 {
		t.Fatalf("%q left after the request", rest)
	}
	return p
}

var metaModes = [...]byte{ModeSet, ModeAdd, ModeReplace, ModeAppend, ModePrepend, ModeIncr, ModeDecr}

// FuzzMetaRequestRoundTrip encodes meta requests with the client's Append*
// encoders and parses them with the server's Tokenize and MetaFlags.Parse:
// every field the client sets must reach the server as it was sent.
func FuzzMetaRequestRoundTrip(f *testing.F) {
	f.Add(uint8(0), "foo", []byte(nil), uint32(FlagReturnValue|FlagReturnFlags|FlagReturnCAS), uint32(0), int32(0), int32(0), int32(0), uint64(0), uint32(0), uint8(0), uint64(0), uint64(0))
	f.Add(uint8(0), "lease", []byte(nil), uint32(FlagReturnValue|FlagReturnTTL|WithVivify|WithRecache|WithOpaque|WithTTL), uint32(77), int32(60), int32(30), int32(5), uint64(0), uint32(0), uint8(0), uint64(0), uint64(0))
	f.Add(uint8(1), "k", []byte("hello"), uint32(WithTTL|WithClientFlags|WithCompareCAS|WithMode|FlagInvalidate|FlagQuiet), uint32(0), int32(2592001), int32(0), int32(0), uint64(18446744073709551615), uint32(4294967295), uint8(2), uint64(0), uint64(0))
	f.Add(uint8(1), "bin\x00key", []byte{}, uint32(FlagBase64Key|FlagReturnKey|WithOpaque|WithMode), uint32(4294967295), int32(-1), int32(0), int32(0), uint64(0), uint32(0), uint8(3), uint64(0), uint64(0))
	f.Add(uint8(2), "gone", []byte(nil), uint32(FlagInvalidate|WithTTL|WithCompareCAS|FlagNoBump), uint32(0), int32(30), int32(0), int32(0), uint64(9), uint32(0), uint8(0), uint64(0), uint64(0))
	f.Add(uint8(3), "ctr", []byte(nil), uint32(WithDelta|WithInitial|WithVivify|WithMode|FlagReturnValue), uint32(1), int32(0), int32(100), int32(0), uint64(0), uint32(0), uint8(6), uint64(42), uint64(7))
	f.Fuzz(func(t *testing.T, cmd uint8, key string, value []byte, flags uint32, opaque uint32, ttl, vivify, recache int32,
		cas uint64, clientFlags uint32, mode uint8, delta, initial uint64) {
		a := Args{Flags: Flags(flags) & (WithInitial<<1 - 1), Opaque: opaque, TTL: ttl, VivifyTTL: vivify, RecacheTTL: recache,
			CompareCAS: cas, ClientFlags: clientFlags, Mode: metaModes[int(mode)%len(metaModes)], Delta: delta, Initial: initial}
		wireKey := key
		if a.Flags&FlagBase64Key != 0 {
			if key == "" {
				return
			}
			wireKey = base64.StdEncoding.EncodeToString([]byte(key))
		}
		if ValidateKey(wireKey) != nil {
			return
		}
		var b []byte
		dataLen := -1
		switch cmd % 4 {
		case 0:
			b = AppendGet(nil, wireKey, &a)
		case 1:
			b, dataLen = AppendSet(nil, wireKey, value, &a), len(value)
		case 2:
			b = AppendDelete(nil, wireKey, &a)
		default:
			b = AppendArith(nil, wireKey, &a)
		}
		p := parseRequest(t, b, dataLen)
		first := 2
		if dataLen >= 0 {
			first = 3
			if v, ok := ParseArgInt32(p.toks[2]); !ok || int(v) != len(value) || !bytes.Equal(p.data, value) {
				t.Fatalf("%q: data length %q, data %q; sent %q", b, p.toks[2], p.data, value)
			}
		}
		if p.more || p.n+1 > MaxMetaTokens {
			return // more flags than memcached takes in one request
		}
		const now = 1_700_000_000
		var m MetaFlags
		if err := m.Parse(p.toks[1], p.toks[first:p.n], now, nil); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		checkMetaFlags(t, b, &m, &a, key, now)
		checkOpaque(t, b, p.toks[first:p.n], &a)
	})
}

func checkMetaFlags(t *testing.T, b []byte, m *MetaFlags, a *Args, key string, now int64) {
	t.Helper()
	f := a.Flags
	want := MetaFlags{
		Key: []byte(key), KeyBinary: f&FlagBase64Key != 0, NoReply: f&FlagQuiet != 0, Value: f&FlagReturnValue != 0,
		NoUpdate: f&FlagNoBump != 0, Invalidate: f&FlagInvalidate != 0, Delta: 1,
	}
	if f&WithTTL != 0 {
		want.HasTTL, want.Expires = true, AbsoluteExpiry(a.TTL, now)
	}
	if f&WithVivify != 0 {
		want.Vivify, want.VivifyTTL = true, AbsoluteExpiry(a.VivifyTTL, now)
	}
	if f&WithRecache != 0 {
		want.RecacheTTL = AbsoluteExpiry(a.RecacheTTL, now)
	}
	if f&WithCompareCAS != 0 {
		want.HasCAS, want.CAS = true, a.CompareCAS
	}
	if f&WithClientFlags != 0 {
		want.Flags = a.ClientFlags
	}
	if f&WithMode != 0 {
		want.Mode = a.Mode
	}
	if f&WithDelta != 0 {
		want.Delta = a.Delta
	}
	if f&WithInitial != 0 {
		want.Initial = a.Initial
	}
	got := *m
	if !bytes.Equal(got.Key, want.Key) {
		t.Fatalf("%q: key %q, sent %q", b, got.Key, key)
	}
	got.Key, want.Key = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: server read\n%+v\nclient sent\n%+v", b, got, want)
	}
}

// checkOpaque finds the O token the server echoes back.
func checkOpaque(t *testing.T, b []byte, flags [][]byte, a *Args) {
	t.Helper()
	var tok []byte
	for _, f := range flags {
		if f[0] == 'O' {
			tok = f
		}
	}
	if (tok != nil) != (a.Flags&WithOpaque != 0) {
		t.Fatalf("%q: O token %q, WithOpaque %v", b, tok, a.Flags&WithOpaque != 0)
	}
	if tok != nil {
		if v, ok := ParseUint(tok[1:], 32); !ok || uint32(v) != a.Opaque {
			t.Fatalf("%q: opaque %q, sent %d", b, tok, a.Opaque)
		}
	}
}

var textStoreCmds = [...]string{"set", "add", "replace", "append", "prepend", "cas"}

// FuzzTextRequestRoundTrip encodes text storage, arith and touch requests
// with the AppendText* encoders and reads them back with the server's
// tokenizer and memcached-style number parsers.
func FuzzTextRequestRoundTrip(f *testing.F) {
	f.Add(uint8(0), "foo", []byte("bar"), uint32(3), int32(0), uint64(0))
	f.Add(uint8(5), "k", []byte{}, uint32(4294967295), int32(2592001), uint64(18446744073709551615))
	f.Add(uint8(6), "n", []byte(nil), uint32(0), int32(-1), uint64(10))
	f.Add(uint8(7), "n", []byte(nil), uint32(0), int32(30), uint64(0))
	f.Add(uint8(8), "t", []byte(nil), uint32(0), int32(30), uint64(0))
	f.Fuzz(func(t *testing.T, cmd uint8, key string, value []byte, flags uint32, ttl int32, num uint64) {
		if ValidateKey(key) != nil {
			return
		}
		c := int(cmd) % (len(textStoreCmds) + 3)
		var b []byte
		var want []string
		dataLen := -1
		switch {
		case c < len(textStoreCmds):
			b = AppendTextStore(nil, textStoreCmds[c], key, flags, ttl, value, num)
			dataLen = len(value)
		case c == len(textStoreCmds):
			b, want = AppendTextArith(nil, false, key, num), []string{"incr", key}
		case c == len(textStoreCmds)+1:
			b, want = AppendTextArith(nil, true, key, num), []string{"decr", key}
		default:
			b, want = AppendTextTouch(nil, key, ttl), []string{"touch", key}
		}
		p := parseRequest(t, b, dataLen)
		if dataLen >= 0 {
			checkTextStore(t, b, p, textStoreCmds[c], key, flags, ttl, value, num)
			return
		}
		if p.n != 3 || string(p.toks[0]) != want[0] || string(p.toks[1]) != want[1] {
			t.Fatalf("%q: tokens %q", b, p.toks[:p.n])
		}
		if want[0] == "touch" {
			if v, ok := ParseArgInt32(p.toks[2]); !ok || v != ttl {
				t.Fatalf("%q: exptime %d %v, sent %d", b, v, ok, ttl)
			}
		} else if v, ok := ParseArgUint64(p.toks[2]); !ok || v != num {
			t.Fatalf("%q: delta %d %v, sent %d", b, v, ok, num)
		}
	})
}

func checkTextStore(t *testing.T, b []byte, p *parsedRequest, cmd, key string, flags uint32, ttl int32, value []byte, cas uint64) {
	t.Helper()
	want := 5
	if cmd == "cas" {
		want = 6
	}
	if p.n != want || string(p.toks[0]) != cmd || string(p.toks[1]) != key {
		t.Fatalf("%q: tokens %q", b, p.toks[:p.n])
	}
	fl, ok1 := ParseArgUint32(p.toks[2])
	exp, ok2 := ParseArgInt32(p.toks[3])
	n, ok3 := ParseArgInt32(p.toks[4])
	if !ok1 || !ok2 || !ok3 || fl != flags || exp != ttl || int(n) != len(value) || !bytes.Equal(p.data, value) {
		t.Fatalf("%q: flags %d exptime %d length %d data %q", b, fl, exp, n, p.data)
	}
	if cmd == "cas" {
		if v, ok := ParseArgUint64(p.toks[5]); !ok || v != cas {
			t.Fatalf("%q: cas %d %v, sent %d", b, v, ok, cas)
		}
	}
}
