package server

import "testing"

// TestLookupFindsEveryCommand checks the packed-name lookup: each name is
// found whether or not the line goes on after it, and names that differ
// by a byte, a prefix or an extension are not.
func TestLookupFindsEveryCommand(t *testing.T) {
	for i := range commandTable {
		e := &commandTable[i]
		exact := []byte(e.name)
		exact = exact[:len(exact):len(exact)] // nothing after the name
		if got := lookup(exact); got == nil || got.name != e.name {
			t.Errorf("lookup(%q) = %v, want the entry %q", e.name, got, e.name)
		}
		line := []byte(e.name + " key 0 0 1\r\n")
		if got := lookup(line[:len(e.name)]); got == nil || got.name != e.name {
			t.Errorf("lookup(%q in a line) = %v", e.name, got)
		}
		for _, wrong := range []string{e.name[:len(e.name)-1], e.name + "x", "x" + e.name[1:], e.name[:len(e.name)-1] + "\x00"} {
			if len(wrong) < 1 {
				continue
			}
			if got := lookup([]byte(wrong + " rest")[:len(wrong)]); got != nil && got.name != wrong {
				t.Errorf("lookup(%q) found %q", wrong, got.name)
			}
		}
	}
}
