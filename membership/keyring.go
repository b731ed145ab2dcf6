package membership

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

var (
	// ErrNoKeyring is returned by the key operations of a member whose
	// gossip is not encrypted (no SecretKey): it has no keyring.
	ErrNoKeyring = errors.New("membership: gossip is not encrypted on this member (no key at start): no keyring")
	// ErrUnknownKey is returned by UseKey for a key not installed.
	ErrUnknownKey = errors.New("membership: key not installed")
	// ErrPrimaryKey is returned by RemoveKey for the key in use.
	ErrPrimaryKey = errors.New("membership: the key in use cannot be removed (use another first)")
)

// Keyring is what a member's gossip keyring holds, by key id (KeyID): the
// keys it decrypts with and the one it encrypts with.
type Keyring struct {
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
}

// KeyID names a key without revealing it: the first 8 bytes of its
// SHA-256, in hex.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// Keys lists the member's gossip keys.
func (m *Member) Keys() (Keyring, error) {
	if m.keyring == nil {
		return Keyring{}, ErrNoKeyring
	}
	kr := Keyring{Primary: KeyID(m.keyring.GetPrimaryKey())}
	for _, k := range m.keyring.GetKeys() {
		kr.Keys = append(kr.Keys, KeyID(k))
	}
	return kr, nil
}

// InstallKey adds key to the keyring: the member decrypts gossip with it
// too, and UseKey can then make it the one it encrypts with. Rotating the
// fleet's key without downtime is InstallKey on every member, then UseKey,
// then RemoveKey of the old one. Installing a key twice is harmless.
func (m *Member) InstallKey(key []byte) error {
	if m.keyring == nil {
		return ErrNoKeyring
	}
	if err := m.keyring.AddKey(key); err != nil {
		return fmt.Errorf("membership: install key: %w", err)
	}
	m.log.Info("gossip key installed", "key", KeyID(key))
	return nil
}

// UseKey makes an installed key the one the member encrypts gossip with.
func (m *Member) UseKey(key []byte) error {
	if m.keyring == nil {
		return ErrNoKeyring
	}
	if !slices.ContainsFunc(m.keyring.GetKeys(), func(k []byte) bool { return string(k) == string(key) }) {
		return fmt.Errorf("%w: %s", ErrUnknownKey, KeyID(key))
	}
	if err := m.keyring.UseKey(key); err != nil {
		return fmt.Errorf("membership: use key: %w", err)
	}
	m.log.Info("gossip key in use", "key", KeyID(key))
	return nil
}

// RemoveKey removes a key the member no longer uses; removing a key not
// installed is harmless.
func (m *Member) RemoveKey(key []byte) error {
	if m.keyring == nil {
		return ErrNoKeyring
	}
	if string(m.keyring.GetPrimaryKey()) == string(key) {
		return fmt.Errorf("%w: %s", ErrPrimaryKey, KeyID(key))
	}
	if err := m.keyring.RemoveKey(key); err != nil {
		return fmt.Errorf("membership: remove key: %w", err)
	}
	m.log.Info("gossip key removed", "key", KeyID(key))
	return nil
}
