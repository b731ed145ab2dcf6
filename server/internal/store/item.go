package store

import (
	"encoding/binary"
	"math"
)

// Item layout in a shard's ring, little endian, no padding:
//
//	0  CAS       uint64
//	8  flags     uint32
//	12 expires   uint32 Unix seconds, 0 = never
//	16 stored    uint32 Unix seconds
//	20 accessed  uint32 Unix seconds
//	24 value len uint32
//	28 key len   uint8
//	29 bits      uint8 (bitFetched, bitStale, bitWinSent, bitDead, bitRef, bitKeyBinary)
//	30 key, then value
//
// Times are kept in 32 bits (good until 2106); this is what keeps the header
// at 30 bytes against memcached's 56.
const (
	itemHeaderSize = 30

	offCAS      = 0
	offFlags    = 8
	offExpires  = 12
	offStored   = 16
	offAccessed = 20
	offVLen     = 24
	offKLen     = 28
	offBits     = 29
)

// Item bits.
const (
	bitFetched uint8 = 1 << iota
	bitStale
	bitWinSent
	bitDead      // the item was deleted or replaced; its bytes wait for reuse
	bitRef       // read since it was last stored or moved (CLOCK reference bit)
	bitKeyBinary // the key was given in base64 (meta b) when the item was stored

	metaBits = bitFetched | bitStale | bitWinSent | bitKeyBinary
)

var le = binary.LittleEndian

// toU32Time clamps an int64 Unix time into the header's 32 bits.
func toU32Time(t int64) uint32 {
	switch {
	case t <= 0:
		return 0
	case t >= math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(t)
}

// toU32Expires converts Meta.Expires: 0 stays "never", a negative time
// (already expired) becomes 1, far future is clamped to 2106.
func toU32Expires(t int64) uint32 {
	if t < 0 {
		return 1
	}
	return toU32Time(t)
}

// expiredAt reports whether an item with this expiry is expired at now.
func expiredAt(exp, now uint32) bool { return exp != 0 && now >= exp }

// itemLen is the number of ring bytes of the item at off.
func itemLen(buf []byte, off int) int {
	return itemHeaderSize + int(buf[off+offKLen]) + int(le.Uint32(buf[off+offVLen:]))
}

// itemKey returns the key of the item at off, aliasing buf.
func itemKey(buf []byte, off int) []byte {
	k := off + itemHeaderSize
	return buf[k : k+int(buf[off+offKLen]) : k+int(buf[off+offKLen])]
}

// itemValue returns the value of the item at off, aliasing buf.
func itemValue(buf []byte, off int) []byte {
	v := off + itemHeaderSize + int(buf[off+offKLen])
	end := v + int(le.Uint32(buf[off+offVLen:]))
	return buf[v:end:end]
}

// readMeta decodes the metadata of the item at off.
func readMeta(buf []byte, off int) Meta {
	h := buf[off : off+itemHeaderSize : off+itemHeaderSize]
	b := h[offBits]
	return Meta{
		CAS:       le.Uint64(h[offCAS:]),
		Flags:     le.Uint32(h[offFlags:]),
		Expires:   int64(le.Uint32(h[offExpires:])),
		Stored:    int64(le.Uint32(h[offStored:])),
		Accessed:  int64(le.Uint32(h[offAccessed:])),
		Fetched:   b&bitFetched != 0,
		Stale:     b&bitStale != 0,
		WinSent:   b&bitWinSent != 0,
		KeyBinary: b&bitKeyBinary != 0,
	}
}

// writeMeta encodes m into the header at off, keeping the lengths and the
// bits that are not metadata (dead, ref).
func writeMeta(buf []byte, off int, m *Meta) {
	h := buf[off : off+itemHeaderSize : off+itemHeaderSize]
	le.PutUint64(h[offCAS:], m.CAS)
	le.PutUint32(h[offFlags:], m.Flags)
	le.PutUint32(h[offExpires:], toU32Expires(m.Expires))
	le.PutUint32(h[offStored:], toU32Time(m.Stored))
	le.PutUint32(h[offAccessed:], toU32Time(m.Accessed))
	b := h[offBits] &^ metaBits
	if m.Fetched {
		b |= bitFetched
	}
	if m.Stale {
		b |= bitStale
	}
	if m.WinSent {
		b |= bitWinSent
	}
	if m.KeyBinary {
		b |= bitKeyBinary
	}
	h[offBits] = b
}
