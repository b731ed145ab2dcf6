package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/zonecache/zonecache/internal/protocol"
)

// Key format.
//
// The key sent to a node is Config.KeyPrefix + key when that is a valid
// memcached key (at most 250 bytes, no spaces or control characters). Any
// other key is hashed: the node key is KeyPrefix + "#" +
// base64url(sha256(KeyPrefix + key)) without padding (44 bytes after the
// prefix), and the value is stored in an envelope that carries the full
// key, so that two keys with the same hash read as a miss, never as each
// other's value:
//
//	"ZCE1" | uvarint(len(fullKey)) | fullKey | value
//
// Append, Prepend, Incr and Decr would corrupt the envelope and fail with
// ErrKeyHashed on hashed keys.
const envelopeMagic = "ZCE1"

// nodeKey is a key as the nodes see it.
type nodeKey struct {
	app    string // the application's key
	full   string // prefix + app
	node   string // what is sent: full, or its hash
	hashed bool
}

func (cc *core) mapKey(key string) (nodeKey, error) {
	if key == "" {
		return nodeKey{}, errEmptyKey
	}
	full := cc.cfg.KeyPrefix + key
	k := nodeKey{app: key, full: full, node: full}
	if protocol.ValidateKey(full) != nil {
		k.node, k.hashed = cc.cfg.KeyPrefix+"#"+cc.cfg.hashKey(full), true
	}
	return k, nil
}

func hashKey(full string) string {
	sum := sha256.Sum256([]byte(full))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// wrap returns the bytes to store for value under k.
func (k nodeKey) wrap(value []byte) []byte {
	if !k.hashed {
		return value
	}
	b := make([]byte, 0, len(envelopeMagic)+binary.MaxVarintLen64+len(k.full)+len(value))
	b = append(b, envelopeMagic...)
	b = binary.AppendUvarint(b, uint64(len(k.full)))
	b = append(b, k.full...)
	return append(b, value...)
}

// unwrap returns the application's value stored under k, and false when
// the stored envelope belongs to another key (a hash collision) or is not
// an envelope at all.
func (k nodeKey) unwrap(stored []byte) ([]byte, bool) {
	if !k.hashed {
		return stored, true
	}
	rest, ok := bytes.CutPrefix(stored, []byte(envelopeMagic))
	if !ok {
		return nil, false
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) {
		return nil, false
	}
	rest = rest[w:]
	if string(rest[:n]) != k.full {
		return nil, false
	}
	return rest[n:], true
}

func (k nodeKey) String() string { return fmt.Sprintf("%q", k.app) }
