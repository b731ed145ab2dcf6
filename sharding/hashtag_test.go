package sharding

import (
	"fmt"
	"testing"
)

func TestHashTag(t *testing.T) {
	cases := []struct{ key, delim, want string }{
		{"user42:name", ":", "user42"},
		{"user42:name:x", ":", "user42"},
		{"user42", ":", "user42"},
		{":name", ":", ":name"},
		{"", ":", ""},
		{"a:b", "", "a:b"},
		{"ab::cd", "::", "ab"},
		{"::cd", "::", "::cd"},
		{"a:b", "::", "a:b"},
		{"{x}y", "}", "{x"},
	}
	for _, c := range cases {
		if got := string(hashTag([]byte(c.key), []byte(c.delim))); got != c.want {
			t.Errorf("hashTag(%q, %q) = %q, want %q", c.key, c.delim, got, c.want)
		}
	}
}

func TestHashTagColocates(t *testing.T) {
	nodes := equalNodes(20)
	for _, mode := range []HashMode{HashXX, HashKetama} {
		tagged := mustNew(t, nodes, Config{Mode: mode, HashTagDelimiter: ":"})
		plain := mustNew(t, nodes, Config{Mode: mode})
		spread := 0
		for u := range 200 {
			tag := fmt.Sprint("user", u)
			want := plain.IndexString(tag)
			owners := map[int]bool{}
			for _, field := range []string{"name", "avatar", "friends", "x:y"} {
				key := tag + ":" + field
				if got := tagged.IndexString(key); got != want {
					t.Fatalf("%s: %q on node %d, its tag %q on %d", mode, key, got, tag, want)
				}
				owners[plain.IndexString(key)] = true
			}
			if len(owners) > 1 {
				spread++
			}
		}
		// Without tags, the same keys spread over several nodes.
		if spread == 0 {
			t.Errorf("%s: untagged keys never spread; the test cannot tell tags apart", mode)
		}
	}
}
