package membership

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestKeyringInstallUseRemove(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	m := startMember(t, "k1", "a", func(c *Config) { c.SecretKey = oldKey })
	check := func(what, primary string, keys ...string) {
		t.Helper()
		kr, err := m.Keys()
		slices.Sort(kr.Keys)
		slices.Sort(keys)
		if err != nil || kr.Primary != primary || !slices.Equal(kr.Keys, keys) {
			t.Fatalf("%s: keyring %+v, %v; want primary %s keys %v", what, kr, err, primary, keys)
		}
	}
	oldID, newID := KeyID(oldKey), KeyID(newKey)
	check("at start", oldID, oldID)
	if err := m.UseKey(newKey); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("use of a key not installed: %v", err)
	}
	if err := m.InstallKey(newKey); err != nil {
		t.Fatal(err)
	}
	check("installed", oldID, oldID, newID)
	if err := m.UseKey(newKey); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveKey(newKey); !errors.Is(err, ErrPrimaryKey) {
		t.Fatalf("removal of the primary key: %v", err)
	}
	if err := m.RemoveKey(oldKey); err != nil {
		t.Fatal(err)
	}
	check("rotated", newID, newID)
}

func TestKeyringEndpoints(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 24)
	m := startMember(t, "k2", "a", func(c *Config) { c.SecretKey = key })
	srv := httptest.NewServer(m.AdminHandler(http.NotFoundHandler()))
	defer srv.Close()
	post := func(op, body string) (int, string) {
		resp, err := http.Post(srv.URL+"/gossip/keys/"+op, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{4}, 16))
	for _, c := range []struct {
		op, body string
		want     int
	}{
		{"install", "short", http.StatusBadRequest},
		{"rotate", other, http.StatusNotFound},
		{"use", other, http.StatusConflict}, // not installed
		{"install", other, http.StatusOK},
		{"remove", base64.StdEncoding.EncodeToString(key), http.StatusConflict}, // the primary
		{"use", other, http.StatusOK},
	} {
		if code, body := post(c.op, c.body); code != c.want {
			t.Fatalf("POST %s: %d %q, want %d", c.op, code, body, c.want)
		}
	}
	resp, err := http.Get(srv.URL + "/gossip/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var kr Keyring
	if err := json.NewDecoder(resp.Body).Decode(&kr); err != nil {
		t.Fatal(err)
	}
	if kr.Primary != KeyID(bytes.Repeat([]byte{4}, 16)) || len(kr.Keys) != 2 {
		t.Fatalf("GET /gossip/keys: %+v", kr)
	}

	plain := startMember(t, "k3", "a", nil)
	if _, err := plain.Keys(); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("keys of a member gossiping in clear: %v", err)
	}
}
