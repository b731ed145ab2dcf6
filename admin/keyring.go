package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Keyring is a node's gossip keyring, by key id (membership.KeyID: the
// first 8 bytes of the key's SHA-256, in hex): the keys it decrypts gossip
// with and the one it encrypts with.
type Keyring struct {
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
}

// GossipKeys lists the node's gossip keys (GET /gossip/keys). A node
// gossiping unencrypted answers 409 (ErrStatus).
func (c *Client) GossipKeys(ctx context.Context) (Keyring, error) {
	return c.keyring(ctx, http.MethodGet, "", nil)
}

// InstallGossipKey adds key to the node's keyring (POST
// /gossip/keys/install): the node then decrypts gossip with it too.
// Rotating a fleet's key is InstallGossipKey on every node, then
// UseGossipKey on every node, then RemoveGossipKey of the old key.
func (c *Client) InstallGossipKey(ctx context.Context, key []byte) (Keyring, error) {
	return c.keyring(ctx, http.MethodPost, "/install", key)
}

// UseGossipKey makes an installed key the one the node encrypts gossip
// with (POST /gossip/keys/use).
func (c *Client) UseGossipKey(ctx context.Context, key []byte) (Keyring, error) {
	return c.keyring(ctx, http.MethodPost, "/use", key)
}

// RemoveGossipKey removes a key the node no longer encrypts with (POST
// /gossip/keys/remove).
func (c *Client) RemoveGossipKey(ctx context.Context, key []byte) (Keyring, error) {
	return c.keyring(ctx, http.MethodPost, "/remove", key)
}

// keyring calls /gossip/keys+op, sending key in base64 when not nil, and
// decodes the keyring answered.
func (c *Client) keyring(ctx context.Context, method, op string, key []byte) (Keyring, error) {
	u, err := c.base()
	if err != nil {
		return Keyring{}, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/gossip/keys" + op
	var body io.Reader
	if key != nil {
		body = strings.NewReader(base64.StdEncoding.EncodeToString(key))
	}
	resp, err := c.doBody(ctx, method, u, body)
	if err != nil {
		return Keyring{}, err
	}
	defer resp.Body.Close()
	var kr Keyring
	if err := json.NewDecoder(resp.Body).Decode(&kr); err != nil {
		return Keyring{}, fmt.Errorf("admin: %s %s: %w", method, u, err)
	}
	return kr, nil
}
