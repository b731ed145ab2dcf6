package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// itemLimitScript writes values around the largest one memcached accepts
// at item size limit maxItem (key + value + 59 bytes, its header with CAS,
// the key's NUL and the value's CRLF), by set, ms and append, each after a
// small value of the same key, and reads the key back after each.
func itemLimitScript(maxItem int) string {
	var b strings.Builder
	for _, keyLen := range []int{1, 4, 250} {
		key := strings.Repeat("k", keyLen)
		largest := maxItem - 59 - keyLen
		for d := -1; d <= 2; d++ {
			v := strings.Repeat("v", largest+d)
			fmt.Fprintf(&b, "set %s 0 0 1\r\nx\r\nset %s 0 0 %d\r\n%s\r\nmg %s\r\n", key, key, len(v), v, key)
			fmt.Fprintf(&b, "set %s 0 0 1\r\nx\r\nms %s %d\r\n%s\r\nmg %s\r\n", key, key, len(v), v, key)
			fmt.Fprintf(&b, "set %s 0 0 %d\r\n%s\r\nappend %s 0 0 2\r\nab\r\nmg %s\r\n", key, len(v)-2, v[2:], key, key)
			b.WriteString(step)
		}
	}
	return b.String()
}

// TestItemSizeLimitAsMemcached: at -I 512k, 1m (the default) and 2m, the
// same values are stored or refused (SERVER_ERROR object too large for
// cache, NOT_STORED for an append) as by memcached 1.6.18, for the
// shortest and longest keys.
func TestItemSizeLimitAsMemcached(t *testing.T) {
	testproc.RequireMemcached(t)
	for _, limit := range []struct {
		flag string
		size int
	}{{"", DefaultMaxItemSize}, {"512k", 512 << 10}, {"2m", 2 << 20}} {
		t.Run(fmt.Sprintf("I=%d", limit.size), func(t *testing.T) {
			var args []string
			if limit.flag != "" {
				args = []string{"-I", limit.flag}
			}
			mc := testproc.StartMemcached(t, args...)
			_, zc := startServer(t, Config{MaxItemSize: limit.size})
			script := itemLimitScript(limit.size)
			want := exchange(t, mc.Addr, script)
			got := exchange(t, zc, script)
			if got != want {
				t.Errorf("replies differ from memcached 1.6.18 -I %d\n%s", limit.size, lineDiff(want, got))
			}
			for _, reply := range []string{"STORED\r\n", "SERVER_ERROR object too large for cache\r\n", "NOT_STORED\r\n", "HD\r\n", "EN\r\n"} {
				if !strings.Contains(want, reply) {
					t.Errorf("memcached never answered %q: the script misses the boundary", reply)
				}
			}
		})
	}
}
