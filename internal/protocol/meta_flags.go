package protocol

import (
	"encoding/base64"
	"errors"
)

const (
	// MaxMetaTokens is memcached's MFLAG_MAX_OPT_LENGTH: a meta request with
	// more tokens (counting the command, its arguments and the final
	// terminator) is refused.
	MaxMetaTokens = 20
	// maxOpaqueLength bounds an O token, the O included.
	maxOpaqueLength = 32
)

// Errors of MetaFlags.Parse. Their text is memcached's reply line.
var (
	errDuplicateFlag = errors.New("CLIENT_ERROR duplicate flag")
	errInvalidFlag   = errors.New("CLIENT_ERROR invalid flag")
	errDecodeKey     = errors.New("CLIENT_ERROR error decoding key")
	errBadToken      = errors.New("CLIENT_ERROR bad token in command line format")
	errBadFlags      = errors.New("CLIENT_ERROR bad command line format")
	errMLength       = errors.New("CLIENT_ERROR incorrect length for M token")
	errBadInitial    = errors.New("CLIENT_ERROR invalid numeric initial value")
	errBadDelta      = errors.New("CLIENT_ERROR invalid numeric delta value")
)

// MetaFlags are the flags of one mg, ms, md or ma request as the server
// reads them; the reply flags (k, O, c, t, ...) are answered in request
// order from the tokens themselves.
type MetaFlags struct {
	Key        []byte // the key, base64-decoded when KeyBinary is set
	KeyBinary  bool   // b
	NoReply    bool   // q
	Value      bool   // v
	NoUpdate   bool   // u
	Vivify     bool   // N
	Invalidate bool   // I
	HasCAS     bool   // C
	HasTTL     bool   // T
	DropValue  bool   // x (md)
	// LongOpaque is set when an O token is longer than 32 bytes.
	LongOpaque bool
	Mode       byte   // M: one of the Mode* constants, 0 when absent
	Expires    int64  // T, as an absolute expiry (see AbsoluteExpiry)
	VivifyTTL  int64  // N, as an absolute expiry
	RecacheTTL int64  // R, as an absolute expiry
	Flags      uint32 // F: client flags
	CAS        uint64 // C: compare
	SetCAS     uint64 // E: the CAS value a write gives the item
	Delta      uint64 // D (ma), 1 when absent
	Initial    uint64 // J (ma)
}

// Parse reads the flag tokens of a meta request whose key token is key, as
// memcached's _meta_flag_preparse does: a duplicate or unknown flag stops
// the parse, a bad value is reported after the others are read. A base64
// key (b) is decoded into keyBuf when it has room. The error's text is
// memcached's reply line.
func (f *MetaFlags) Parse(key []byte, flags [][]byte, now int64, keyBuf []byte) error {
	*f = MetaFlags{Key: key, Delta: 1}
	var seen [2]uint64 // one bit per ASCII flag: no array to clear per request
	var err error
	for _, t := range flags {
		o := t[0]
		if o >= 127 || seen[o>>6]&(1<<(o&63)) != 0 {
			return errDuplicateFlag
		}
		seen[o>>6] |= 1 << (o & 63)
		switch o {
		case 'l', 'P', 'L', 'k', 's', 't', 'c', 'f', 'h':
		case 'O':
			f.LongOpaque = f.LongOpaque || len(t) > maxOpaqueLength
		case 'v', 'u', 'q', 'I', 'x':
			f.setSwitch(o)
		case 'b':
			if e := f.decodeKey(key, keyBuf); e != nil {
				err = e
			}
		default:
			known, e := f.parseValue(o, t[1:], now)
			if !known {
				return errInvalidFlag
			}
			// A bad F is reported only when no other flag was bad.
			if e != nil && (e != errBadFlags || err == nil) {
				err = e
			}
		}
	}
	return err
}

// setSwitch sets a flag without a value: v, u, q, I or x.
func (f *MetaFlags) setSwitch(o byte) {
	switch o {
	case 'v':
		f.Value = true
	case 'u':
		f.NoUpdate = true
	case 'q':
		f.NoReply = true
	case 'I':
		f.Invalidate = true
	default:
		f.DropValue = true
	}
}

// decodeKey decodes the base64 key into buf (b).
func (f *MetaFlags) decodeKey(key, buf []byte) error {
	dec, ok := DecodeKey(buf, key)
	f.Key, f.KeyBinary = dec, true
	if !ok {
		return errDecodeKey
	}
	return nil
}

// parseValue reads a flag that carries a value v: known is false for a
// flag memcached does not know, err reports a bad value.
func (f *MetaFlags) parseValue(o byte, v []byte, now int64) (known bool, err error) {
	switch o {
	case 'N', 'T', 'R':
		ttl, ok := ParseArgInt32(v)
		if !ok {
			return true, errBadToken
		}
		f.setTTL(o, AbsoluteExpiry(ttl, now))
	case 'F':
		fl, ok := ParseArgUint32(v)
		if !ok {
			return true, errBadFlags
		}
		f.Flags = fl
	case 'C', 'E', 'J', 'D':
		return true, f.setUint(o, v)
	case 'M':
		if len(v) != 1 {
			return true, errMLength
		}
		f.Mode = v[0]
	default:
		return false, nil
	}
	return true, nil
}

func (f *MetaFlags) setTTL(o byte, exp int64) {
	switch o {
	case 'N':
		f.Vivify, f.VivifyTTL = true, exp
	case 'T':
		f.HasTTL, f.Expires = true, exp
	default:
		f.RecacheTTL = exp
	}
}

// setUint reads the number of a C, E, J or D flag.
func (f *MetaFlags) setUint(o byte, v []byte) error {
	n, ok := ParseArgUint64(v)
	switch {
	case !ok && (o == 'C' || o == 'E'):
		return errBadToken
	case !ok && o == 'J':
		return errBadInitial
	case !ok:
		return errBadDelta
	case o == 'C':
		f.HasCAS, f.CAS = true, n
	case o == 'E':
		f.SetCAS = n
	case o == 'J':
		f.Initial = n
	default:
		f.Delta = n
	}
	return nil
}

// DecodeKey base64-decodes a key into buf, or into a new buffer when buf is
// too small. It reports false for invalid base64 or an empty result.
func DecodeKey(buf, key []byte) ([]byte, bool) {
	n := base64.StdEncoding.DecodedLen(len(key))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	m, err := base64.StdEncoding.Decode(buf[:n], key)
	if err != nil || m == 0 {
		return nil, false
	}
	return buf[:m], true
}
