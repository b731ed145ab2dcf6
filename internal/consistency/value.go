package consistency

import (
	"bytes"
	"strconv"
)

// padding makes values look like cached objects rather than counters.
var padding = bytes.Repeat([]byte{'.'}, 48)

// EncodeValue is the value version of key holds: "<key>:<version>:" and
// some padding, so that a value read back names its key and version.
func EncodeValue(key string, version uint64) []byte {
	b := make([]byte, 0, len(key)+24+len(padding))
	b = append(b, key...)
	b = append(b, ':')
	b = strconv.AppendUint(b, version, 10)
	b = append(b, ':')
	return append(b, padding...)
}

// DecodeValue returns the version in a value of key; ok is false when the
// value is not one EncodeValue made for key.
func DecodeValue(key string, v []byte) (version uint64, ok bool) {
	rest, found := bytes.CutPrefix(v, []byte(key+":"))
	if !found {
		return 0, false
	}
	num, tail, found := bytes.Cut(rest, []byte{':'})
	if !found || !bytes.Equal(tail, padding) {
		return 0, false
	}
	version, err := strconv.ParseUint(string(num), 10, 64)
	return version, err == nil && version > 0
}
