package sharding

import "bytes"

// hashTag returns the part of key that is hashed: the bytes before the first
// delim when delim is set and occurs after the first byte, else the whole key.
func hashTag(key, delim []byte) []byte {
	var i int
	switch len(delim) {
	case 0:
		return key
	case 1:
		i = bytes.IndexByte(key, delim[0])
	default:
		i = bytes.Index(key, delim)
	}
	if i > 0 {
		return key[:i]
	}
	return key
}
