package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFleetFlags(t *testing.T) {
	var errs bytes.Buffer
	o, err := parseFlags([]string{"--zone", "a", "--gossip-probe-interval", "250ms", "-p", "4000"}, &errs)
	if err != nil {
		t.Fatal(err)
	}
	if o.fleet.zone != "a" || o.fleet.probe != 250*time.Millisecond {
		t.Fatalf("parsed %+v", o.fleet)
	}
	if a, err := o.fleet.advertised(o.cfg.Addr); err != nil || a != "127.0.0.1:4000" {
		t.Fatalf("advertised without --advertise-addr: %q, %v", a, err)
	}

	// A fleet node listening on every interface must say what to advertise.
	for _, l := range []string{"0.0.0.0", "::", ""} {
		_, err := parseFlags([]string{"--zone", "a", "-l", l}, &errs)
		if !errors.Is(err, ErrWildcardListen) || !strings.Contains(err.Error(), "--advertise-addr") {
			t.Errorf("-l %q in fleet mode: err %v, want ErrWildcardListen naming --advertise-addr", l, err)
		}
	}
	if _, err := parseFlags([]string{"-l", "0.0.0.0"}, &errs); err != nil {
		t.Errorf("-l 0.0.0.0 standalone: %v", err)
	}
	for adv, want := range map[string]string{
		"10.0.0.5":        "10.0.0.5:4000",
		"10.0.0.5:5000":   "10.0.0.5:5000",
		"cache-1.example": "cache-1.example:4000",
		"[fd00::1]:5000":  "[fd00::1]:5000",
		"fd00::1":         "[fd00::1]:4000",
	} {
		o, err := parseFlags([]string{"--zone", "a", "-l", "0.0.0.0", "-p", "4000", "--advertise-addr", adv}, &errs)
		if err != nil {
			t.Errorf("--advertise-addr %s: %v", adv, err)
			continue
		}
		if got, err := o.fleet.advertised(o.cfg.Addr); err != nil || got != want {
			t.Errorf("--advertise-addr %s advertises %q (%v), want %s", adv, got, err, want)
		}
	}
	for _, bad := range [][]string{
		{"--advertise-addr", "0.0.0.0:4000"}, {"--advertise-addr", "::"}, {"--advertise-addr", "10.0.0.5:x"},
		{"--advertise-addr", "10.0.0.5:0"}, {"--gossip-probe-interval", "-1s"},
	} {
		if _, err := parseFlags(append([]string{"--zone", "a", "-l", "0.0.0.0"}, bad...), &errs); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}

	var help bytes.Buffer
	if code := run([]string{"-h"}, &help, &help); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	for _, f := range []string{"-advertise-addr", "-gossip-probe-interval", "-gossip-profile", "-cluster-label", "-gossip-key-file"} {
		if !strings.Contains(help.String(), "  "+f+" ") {
			t.Errorf("-h does not document %s", f)
		}
	}
}

func TestReadGossipKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw16 := "0123456789abcdef"
	raw32 := strings.Repeat("k-", 16)    // '-' is not base64
	ambiguous := strings.Repeat("k", 32) // raw 32 bytes, or base64 of 24
	b64of24 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x01", 24)))
	for name, c := range map[string]struct{ content, want string }{
		"raw16":       {raw16, raw16},
		"raw32-nl":    {raw32 + "\n", raw32},
		"b64-24":      {b64of24 + "\n", strings.Repeat("\x01", 24)},
		"b64-16-text": {base64.StdEncoding.EncodeToString([]byte(raw16)), raw16},
		// Documented: text that decodes as base64 to a valid length is base64.
		"ambiguous": {ambiguous, string(mustDecode(t, ambiguous))},
	} {
		got, err := readGossipKey(write(name, c.content))
		if err != nil || string(got) != c.want {
			t.Errorf("%s: key %q, %v; want %q", name, got, err, c.want)
		}
	}
	for name, content := range map[string]string{
		"empty":   "",
		"raw15":   strings.Repeat("x", 15),
		"raw33":   strings.Repeat("x", 33),
		"b64-20":  base64.StdEncoding.EncodeToString(make([]byte, 20)),
		"garbage": "!!not a key!!",
	} {
		if k, err := readGossipKey(write(name, content)); err == nil {
			t.Errorf("%s: accepted, key of %d bytes", name, len(k))
		}
	}
	if _, err := readGossipKey(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		t.Fatalf("decode %q: %d bytes, %v", s, len(b), err)
	}
	return b
}

// The rejoin flags reach the fleet options, and a fleet node gets the pause
// bound of its gossip profile (a standalone node none).
func TestRejoinFlagsAndPauseBound(t *testing.T) {
	var errs bytes.Buffer
	o, err := parseFlags([]string{"--zone", "a", "--gossip-profile", "local", "--gossip-probe-interval", "200ms",
		"--rejoin-interval", "2s", "--require-join", "--forget-failed-after", "10m"}, &errs)
	if err != nil {
		t.Fatal(err)
	}
	if o.fleet.rejoin != 2*time.Second || !o.fleet.requireJoin || o.fleet.forgetAfter != 10*time.Minute {
		t.Fatalf("parsed %+v", o.fleet)
	}
	if o.cfg.PauseBound != 300*time.Millisecond {
		t.Fatalf("pause bound %v, want 300ms (local, 200 ms probes)", o.cfg.PauseBound)
	}
	if o, err := parseFlags(nil, &errs); err != nil || o.cfg.PauseBound != 0 || o.fleet.rejoin != 5*time.Second {
		t.Fatalf("standalone: pause bound %v, rejoin %v, %v", o.cfg.PauseBound, o.fleet.rejoin, err)
	}
	for _, bad := range [][]string{{"--rejoin-interval", "0s"}, {"--forget-failed-after", "-1m"}} {
		if _, err := parseFlags(append([]string{"--zone", "a"}, bad...), &errs); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
