package sharding

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// fuzzRings are built once; the fuzz targets only read them.
var fuzzNodes = []Node{
	{ID: "a", Addr: "10.0.0.1:11211"},
	{ID: "b", Addr: "10.0.0.2:11212", Weight: 1},
	{ID: "c", Addr: "cache-c", KetamaName: "cache-c/10.0.0.3:11211"},
}

func FuzzLookup(f *testing.F) {
	f.Add([]byte("key"), ":")
	f.Add([]byte(""), "")
	f.Add([]byte("user:1:name"), ":")
	f.Add([]byte("::"), "::")
	f.Add([]byte{0xff, 0x00, ':'}, ":")
	f.Add(bytes.Repeat([]byte("x"), 300), "x")
	cfgs := []Config{{}, {Probes: 1}, {Probes: 4}, {Mode: HashKetama}, {Mode: HashKetamaEVCache}}
	rings := make([]*Ring, len(cfgs))
	for i, cfg := range cfgs {
		rings[i] = mustNew(f, fuzzNodes, cfg)
	}
	f.Fuzz(func(t *testing.T, key []byte, delim string) {
		for i, cfg := range cfgs {
			r := rings[i]
			idx := r.Index(key)
			if idx < 0 || idx >= r.Len() {
				t.Fatalf("%+v: Index(%q) = %d out of range", cfg, key, idx)
			}
			if s := r.IndexString(string(key)); s != idx {
				t.Fatalf("%+v: IndexString = %d, Index = %d", cfg, s, idx)
			}
			cfg.HashTagDelimiter = delim
			tagged, err := New(fuzzNodes, cfg)
			if err != nil {
				t.Fatal(err)
			}
			tag := hashTag(key, []byte(delim))
			if got, want := tagged.Index(key), r.Index(tag); got != want {
				t.Fatalf("%+v: tagged Index(%q) = %d, untagged Index(tag %q) = %d", cfg, key, got, tag, want)
			}
		}
	})
}

func FuzzHashTag(f *testing.F) {
	f.Add([]byte("user42:name"), ":")
	f.Add([]byte(":x"), ":")
	f.Add([]byte("a{b}c"), "}")
	f.Add([]byte("abab"), "ba")
	f.Add([]byte(""), "")
	f.Fuzz(func(t *testing.T, key []byte, delim string) {
		tag := hashTag(key, []byte(delim))
		if !bytes.HasPrefix(key, tag) {
			t.Fatalf("tag %q is not a prefix of %q", tag, key)
		}
		i := strings.Index(string(key), delim)
		if delim == "" || i <= 0 {
			if len(tag) != len(key) {
				t.Fatalf("hashTag(%q, %q) = %q, want the whole key", key, delim, tag)
			}
			return
		}
		if len(tag) != i {
			t.Fatalf("hashTag(%q, %q) = %q, want %q", key, delim, tag, key[:i])
		}
	})
}

func FuzzNew(f *testing.F) {
	f.Add("a", "10.0.0.1:11211", 1, "", "b", "[::1]:11300", 0, "", uint8(0))
	f.Add("a", "h", 2, "x", "b", "h:0", 3, "y", uint8(1))
	f.Add("a", ":1", 1, "", "a", "h:99999", 1, "", uint8(1))
	f.Add("a", "10.0.0.1", 0, "", "b", "10.0.0.2:11212", 1, "", uint8(2))
	f.Add("a", "host", 0, "", "b", "10.0.0.2:11212", 1, "n", uint8(2))
	f.Fuzz(func(t *testing.T, id1, addr1 string, w1 int, kn1 string, id2, addr2 string, w2 int, kn2 string, mode uint8) {
		cfg := Config{Mode: HashMode(mode % 3)}
		w1, w2 = w1%1000, w2%1000 // keep rings small
		nodes := []Node{{ID: id1, Addr: addr1, Weight: w1, KetamaName: kn1}, {ID: id2, Addr: addr2, Weight: w2, KetamaName: kn2}}
		r, err := New(nodes, cfg)
		if err != nil {
			if !errors.Is(err, ErrInvalidNode) && !errors.Is(err, ErrDuplicateNode) && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New: error without a sentinel: %v", err)
			}
			return
		}
		if id1 == "" || id2 == "" || id1 == id2 || w1 < 0 || w2 < 0 {
			t.Fatalf("New accepted invalid nodes %+v", nodes)
		}
		if r.Len() != 2 {
			t.Fatalf("Len = %d", r.Len())
		}
		if idx := r.IndexString(id1 + addr2); idx < 0 || idx > 1 {
			t.Fatalf("Index = %d", idx)
		}
	})
}

func FuzzSplitAddr(f *testing.F) {
	f.Add("10.0.0.1:11211")
	f.Add("[::1]:11212")
	f.Add("cache-a")
	f.Add("h:0")
	f.Add(":11211")
	f.Add("[::1")
	f.Add("h:65536")
	f.Fuzz(func(t *testing.T, addr string) {
		host, port, err := splitAddr(Node{ID: "n", Addr: addr})
		if err != nil {
			if !errors.Is(err, ErrInvalidNode) {
				t.Fatalf("splitAddr(%q): error without ErrInvalidNode: %v", addr, err)
			}
			return
		}
		if host == "" || port == 0 {
			t.Fatalf("splitAddr(%q) = %q, %d", addr, host, port)
		}
		// Joining the parts again parses to the same parts.
		h2, p2, err := splitAddr(Node{ID: "n", Addr: net.JoinHostPort(host, strconv.Itoa(int(port)))})
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("splitAddr(%q) = %q, %d; round trip gives %q, %d, %v", addr, host, port, h2, p2, err)
		}
		name, err := ketamaName(Node{ID: "n", Addr: addr})
		if err != nil || !strings.HasPrefix(name, host) || (port == 11211) != (name == host) {
			t.Fatalf("ketamaName(%q) = %q, %v (host %q, port %d)", addr, name, err, host, port)
		}
	})
}
