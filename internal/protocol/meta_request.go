package protocol

import "strconv"

// Flags selects the single-letter flags and the tokens of a meta request.
// Each command accepts its own subset (see memcached's protocol.txt); the
// encoder writes whatever is set and leaves that check to the caller.
type Flags uint32

// Flags without a token.
const (
	FlagBase64Key   Flags = 1 << iota // b: the key is base64 on the wire
	FlagReturnCAS                     // c: return the CAS value
	FlagReturnFlags                   // f: return the client flags
	FlagHitBefore                     // h: return whether the item was hit before
	FlagReturnKey                     // k: return the key
	FlagLastAccess                    // l: return seconds since the last access
	FlagQuiet                         // q: hide nominal replies (EN for mg, HD for ms/md/ma)
	FlagReturnSize                    // s: return the item size
	FlagReturnTTL                     // t: return the remaining TTL (-1 = never expires)
	FlagNoBump                        // u: do not bump the item in the LRU
	FlagReturnValue                   // v: return the value
	FlagInvalidate                    // I: ms/md invalidate (mark stale)

	// Flags that send a token taken from Args.
	WithOpaque      // O<Args.Opaque>
	WithTTL         // T<Args.TTL>
	WithVivify      // N<Args.VivifyTTL>
	WithRecache     // R<Args.RecacheTTL>
	WithCompareCAS  // C<Args.CompareCAS>
	WithClientFlags // F<Args.ClientFlags>
	WithMode        // M<Args.Mode>
	WithDelta       // D<Args.Delta>
	WithInitial     // J<Args.Initial>
)

// Modes for the M token of ms and ma.
const (
	ModeSet     byte = 'S' // ms: store unconditionally (default)
	ModeAdd     byte = 'E' // ms: store only if absent
	ModeReplace byte = 'R' // ms: store only if present
	ModeAppend  byte = 'A' // ms: append to an existing value
	ModePrepend byte = 'P' // ms: prepend to an existing value
	ModeIncr    byte = 'I' // ma: increment (default)
	ModeDecr    byte = 'D' // ma: decrement, clamped at 0
)

// Args are the flags and token values of one meta request. Only the tokens
// whose With* bit is set in Flags are written; the zero value sends no flags.
type Args struct {
	Flags       Flags
	Opaque      uint32 // O: echoed back in the reply
	TTL         int32  // T: new TTL in seconds (0 = never expires)
	VivifyTTL   int32  // N: mg creates a stub on a miss with this TTL (lease)
	RecacheTTL  int32  // R: mg wins a recache when the TTL left is below this
	CompareCAS  uint64 // C: compare-and-swap value
	ClientFlags uint32 // F: client flags stored with the item
	Mode        byte   // M: one of the Mode* constants
	Delta       uint64 // D: ma delta (server default 1)
	Initial     uint64 // J: ma initial value with N
}

var crlf = []byte("\r\n")

// AppendGet appends `mg <key> <flags>\r\n` to dst.
func AppendGet(dst []byte, key string, a *Args) []byte {
	dst = append(dst, "mg "...)
	dst = append(dst, key...)
	dst = appendArgs(dst, a)
	return append(dst, crlf...)
}

// AppendSet appends `ms <key> <len> <flags>\r\n<value>\r\n` to dst.
func AppendSet(dst []byte, key string, value []byte, a *Args) []byte {
	dst = append(dst, "ms "...)
	dst = append(dst, key...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(value)), 10)
	dst = appendArgs(dst, a)
	dst = append(dst, crlf...)
	dst = append(dst, value...)
	return append(dst, crlf...)
}

// AppendDelete appends `md <key> <flags>\r\n` to dst.
func AppendDelete(dst []byte, key string, a *Args) []byte {
	dst = append(dst, "md "...)
	dst = append(dst, key...)
	dst = appendArgs(dst, a)
	return append(dst, crlf...)
}

// AppendArith appends `ma <key> <flags>\r\n` to dst.
func AppendArith(dst []byte, key string, a *Args) []byte {
	dst = append(dst, "ma "...)
	dst = append(dst, key...)
	dst = appendArgs(dst, a)
	return append(dst, crlf...)
}

// AppendNoop appends `mn\r\n` to dst. The server answers MN once every
// earlier request on the connection has been answered.
func AppendNoop(dst []byte) []byte {
	return append(dst, "mn\r\n"...)
}

// simpleFlags lists the token-less flags in the order they are written.
var simpleFlags = [...]struct {
	bit Flags
	c   byte
}{
	{FlagBase64Key, 'b'}, {FlagReturnValue, 'v'}, {FlagReturnFlags, 'f'},
	{FlagReturnCAS, 'c'}, {FlagReturnTTL, 't'}, {FlagReturnSize, 's'},
	{FlagReturnKey, 'k'}, {FlagHitBefore, 'h'}, {FlagLastAccess, 'l'},
	{FlagNoBump, 'u'}, {FlagInvalidate, 'I'}, {FlagQuiet, 'q'},
}

func appendArgs(dst []byte, a *Args) []byte {
	if a == nil || a.Flags == 0 {
		return dst
	}
	f := a.Flags
	for _, s := range simpleFlags {
		if f&s.bit != 0 {
			dst = append(dst, ' ', s.c)
		}
	}
	if f&WithTTL != 0 {
		dst = strconv.AppendInt(append(dst, ' ', 'T'), int64(a.TTL), 10)
	}
	if f&WithVivify != 0 {
		dst = strconv.AppendInt(append(dst, ' ', 'N'), int64(a.VivifyTTL), 10)
	}
	if f&WithRecache != 0 {
		dst = strconv.AppendInt(append(dst, ' ', 'R'), int64(a.RecacheTTL), 10)
	}
	if f&WithCompareCAS != 0 {
		dst = strconv.AppendUint(append(dst, ' ', 'C'), a.CompareCAS, 10)
	}
	if f&WithClientFlags != 0 {
		dst = strconv.AppendUint(append(dst, ' ', 'F'), uint64(a.ClientFlags), 10)
	}
	if f&WithMode != 0 {
		dst = append(dst, ' ', 'M', a.Mode)
	}
	if f&WithDelta != 0 {
		dst = strconv.AppendUint(append(dst, ' ', 'D'), a.Delta, 10)
	}
	if f&WithInitial != 0 {
		dst = strconv.AppendUint(append(dst, ' ', 'J'), a.Initial, 10)
	}
	if f&WithOpaque != 0 {
		dst = strconv.AppendUint(append(dst, ' ', 'O'), uint64(a.Opaque), 10)
	}
	return dst
}
