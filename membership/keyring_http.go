package membership

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// maxKeyBody bounds the request body of a key operation (a key in base64).
const maxKeyBody = 1 << 10

// handleKeyring registers the gossip keyring's endpoints on mux: GET
// /gossip/keys lists the key ids (Keys), and POST
// /gossip/keys/{install,use,remove}, with the key (raw or base64) as the
// body, runs InstallKey, UseKey or RemoveKey and answers the new list.
func (m *Member) handleKeyring(mux *http.ServeMux) {
	mux.HandleFunc("GET /gossip/keys", m.serveKeys)
	mux.HandleFunc("POST /gossip/keys/{op}", m.serveKeyOp)
}

// serveKeys answers GET /gossip/keys: the Keyring as JSON.
func (m *Member) serveKeys(w http.ResponseWriter, _ *http.Request) {
	kr, err := m.Keys()
	if err != nil {
		http.Error(w, err.Error(), keyStatus(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(kr)
}

// serveKeyOp answers POST /gossip/keys/{op}.
func (m *Member) serveKeyOp(w http.ResponseWriter, r *http.Request) {
	ops := map[string]func([]byte) error{"install": m.InstallKey, "use": m.UseKey, "remove": m.RemoveKey}
	op, ok := ops[r.PathValue("op")]
	if !ok {
		http.Error(w, "want /gossip/keys/install, /gossip/keys/use or /gossip/keys/remove", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxKeyBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key, err := ParseKey(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := op(key); err != nil {
		http.Error(w, err.Error(), keyStatus(err))
		return
	}
	m.serveKeys(w, r)
}

// keyStatus is the HTTP status of a key operation's error.
func keyStatus(err error) int {
	if errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrNoKeyring) || errors.Is(err, ErrPrimaryKey) {
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
