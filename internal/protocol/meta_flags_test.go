package protocol

import (
	"reflect"
	"strings"
	"testing"
)

// TestMetaFlagsParseErrorsLikeMemcached checks which error line
// _meta_flag_preparse's rules pick: duplicate and unknown flags stop the
// parse, a later bad value replaces an earlier one, except that a bad F
// never replaces another.
func TestMetaFlagsParseErrorsLikeMemcached(t *testing.T) {
	for _, c := range []struct {
		key, flags, want string
	}{
		{"k", "v v", "CLIENT_ERROR duplicate flag"},
		{"k", "T# v v", "CLIENT_ERROR duplicate flag"},
		{"k", "\x80", "CLIENT_ERROR duplicate flag"},
		{"k", "v Y", "CLIENT_ERROR invalid flag"},
		{"!!!", "T# b", "CLIENT_ERROR error decoding key"},
		{"!!!", "b T#", "CLIENT_ERROR bad token in command line format"},
		{"k", "T# Fx", "CLIENT_ERROR bad token in command line format"},
		{"k", "Fx T#", "CLIENT_ERROR bad token in command line format"},
		{"k", "Fx", "CLIENT_ERROR bad command line format"},
		{"k", "MSS", "CLIENT_ERROR incorrect length for M token"},
		{"k", "Jx", "CLIENT_ERROR invalid numeric initial value"},
		{"k", "D-1", "CLIENT_ERROR invalid numeric delta value"},
		{"k", "Cx", "CLIENT_ERROR bad token in command line format"},
		{"Zm9v", "b v T0 l P L k s t c f h O1", ""},
	} {
		var f MetaFlags
		err := f.Parse([]byte(c.key), tokens(c.flags), 1_700_000_000, make([]byte, 0, 8))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s %q: %q, want %q", c.key, c.flags, got, c.want)
		}
	}
}

func TestMetaFlagsParseValues(t *testing.T) {
	var f MetaFlags
	err := f.Parse([]byte("Zm9v"), tokens("b T30 N2592001 R-1 F7 C9 E11 MA J3 D4 q u I x v O"+strings.Repeat("9", 32)), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := MetaFlags{Key: []byte("foo"), KeyBinary: true, NoReply: true, Value: true, NoUpdate: true, Vivify: true,
		Invalidate: true, HasCAS: true, HasTTL: true, DropValue: true, LongOpaque: true, Mode: ModeAppend,
		Expires: 1030, VivifyTTL: 2592001, RecacheTTL: 1, Flags: 7, CAS: 9, SetCAS: 11, Delta: 4, Initial: 3}
	if string(f.Key) != "foo" {
		t.Fatalf("key %q", f.Key)
	}
	f.Key, want.Key = nil, nil
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", f, want)
	}
}

func tokens(s string) [][]byte {
	var out [][]byte
	for _, t := range strings.Fields(s) {
		out = append(out, []byte(t))
	}
	return out
}
