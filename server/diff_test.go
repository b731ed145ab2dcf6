package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// differentialScripts are command sequences whose replies must be byte for
// byte those of Debian's memcached 1.6.18. Each runs on a fresh memcached
// and a fresh zonecached.
//
// Left out on purpose, and tested on zonecached alone elsewhere:
//   - TTLs counting down (t, l, la=, exp=): memcached's clock ticks on its own
//     timer, so a second boundary can fall between two commands;
//   - CAS uniques read after an immediate flush_all: memcached spends one
//     CAS unique on each immediate flush, the store does not;
//   - version, stats, me and metadump: they report the implementation
//     (version string, item sizes, slab classes);
//   - features newer than 1.6.18: mg/ms/md/ma E, md x;
//   - a get with an over-long key behind other pipelined commands: 1.6.18
//     then drops the replies queued before it and after it (tested alone in
//     TestLongMultiGetLineIsStreamed);
//   - watch: 1.6.18 answers depending on what is pipelined before it
//     (TestWatchAsMemcachedWithWatchDisabled diffs it against memcached -W).
var differentialScripts = map[string]string{
	"storage": "set a 0 0 1\r\nx\r\nset b 42 0 3\r\nabc\r\nget a b c\r\ngets a b\r\n" +
		"add a 0 0 1\r\ny\r\nadd c 1 0 1\r\nz\r\nreplace d 0 0 1\r\nq\r\nreplace c 2 0 2\r\nzz\r\n" +
		"append a 9 9 2\r\n12\r\nprepend a 9 9 2\r\n00\r\nappend nope 0 0 1\r\nx\r\nprepend nope 0 0 1\r\nx\r\n" +
		"gets a b c\r\nset e 4294967296 0 1\r\ne\r\nset f 0 0 4294967297\r\nf\r\nget e f\r\n" +
		"set empty 0 0 0\r\n\r\nget empty\r\nset ctl\x01key 0 0 1\r\nk\r\nget ctl\x01key\r\n" +
		"set big 4294967295 0 1\r\nb\r\nget big\r\n",
	"cas": "set k 0 0 1\r\na\r\ngets k\r\ncas k 0 0 1 99\r\nb\r\ncas k 0 0 1 1\r\nc\r\ngets k\r\n" +
		"cas nokey 0 0 1 1\r\nd\r\ncas k 0 0 1 0\r\ne\r\ncas k 0 0 1 2 noreply\r\nf\r\ngets k\r\n" +
		"cas k 0 0 1\r\ng\r\ncas k 0 0 1 x\r\ng\r\n",
	"delete": "set a 0 0 1\r\nx\r\ndelete a\r\ndelete a\r\nset a 0 0 1\r\nx\r\ndelete a 0\r\n" +
		"delete a 5\r\ndelete a b c\r\ndelete a 0 noreply\r\ndelete a noreply\r\ndelete\r\ndelete a 0 noreply x\r\n",
	// incr and decr rewrite a number in place (space-padded) only when
	// nothing else references the item: a VALUE reply still queued, or
	// memcached's LRU maintainer moving an item that was read, holds a
	// reference. So padding is only observed on items not read before, and
	// each get ends a step.
	"incr-decr": "set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\n" + step + "incr n 1\r\nget n\r\n" + step +
		"set u 0 0 3\r\n100\r\nincr u 18446744073709551615\r\nget u\r\n" + step +
		"set d 0 0 2\r\n10\r\ndecr d 1000\r\nget d\r\n" + step + "set m 0 0 20\r\n18446744073709551615\r\nincr m 1\r\nget m\r\n" + step +
		"set s 0 0 3\r\n5 x\r\nincr s 1\r\nget s\r\n" + step + "set p 0 0 3\r\n 99\r\nincr p 1\r\nget p\r\n" + step +
		"set z 0 0 26\r\n00000000000000000000000001\r\nincr z 1\r\nget z\r\n" + step +
		"set neg 0 0 2\r\n-0\r\nincr neg 1\r\nset e 0 0 0\r\n\r\nincr e 1\r\nset w 0 0 1\r\nx\r\nincr w 1\r\n" +
		"set o 0 0 20\r\n99999999999999999999\r\nincr o 1\r\nincr n -1\r\nincr n abc\r\nincr n 1x\r\nincr n +1\r\n" +
		"set q 0 0 1\r\n0\r\nincr q +1\r\nincr q 1 noreply\r\nget q\r\n" + step +
		"incr nokey 1\r\ndecr nokey 1\r\nincr\r\nincr n\r\n",
	"touch-gat": "set a 0 0 1\r\na\r\ntouch a 0\r\ntouch b 0\r\ntouch a\r\ntouch a x\r\ngat 0 a b\r\n" +
		"gats 0 a\r\ngat 0\r\ngat\r\ngat x a\r\ntouch a 0 noreply\r\ntouch a -1\r\nget a\r\n" +
		"set c 0 0 1\r\nc\r\ngat -1 c\r\nget c\r\n",
	"noreply": "set a 0 0 1 noreply\r\na\r\nadd a 0 0 1 noreply\r\nb\r\nreplace a 0 0 1 noreply\r\nc\r\n" +
		"append a 0 0 1 noreply\r\nd\r\nprepend a 0 0 1 noreply\r\ne\r\nget a\r\nincr a 1 noreply\r\n" +
		"set n 0 0 1 noreply\r\n5\r\nincr n 1 noreply\r\ndecr n 2 noreply\r\nget n\r\n" +
		"set k6 abc 0 1 noreply\r\nx\r\nflush_all noreply\r\nget a\r\nverbosity noreply\r\nverbosity 1 noreply\r\n",
	"bad-commands": "GET a\r\nSET a 0 0 1\r\nfoo\r\n\r\nx\r\n   \r\nget\r\ngets\r\nset a 0 0\r\nset a 0 0 1 2 3\r\n" +
		"set a abc 0 1\r\nx\r\nset a 0 abc 1\r\nx\r\nset a 0 0 abc\r\nx\r\nset a 0 0 -1\r\n" +
		"set a 0 0 2147483647\r\nset a 0 0 1\r\nxyz\r\nset a 0 0 1\r\nxy\nget a\r\n" +
		"verbosity\r\nverbosity a b c\r\nverbosity x\r\nstats noreply\r\nflush_all abc\r\nflush_all 1 2 3\r\n" +
		"mx a\r\nm\r\nmgx\r\nshutdown\r\nbogus command here\r\ng\r\ngetx a\r\ndecr\r\ntouch\r\n",
	"long-keys": "set " + strings.Repeat("k", 250) + " 0 0 1\r\nx\r\nget " + strings.Repeat("k", 250) + "\r\n" +
		"set " + strings.Repeat("k", 251) + " 0 0 1\r\nx\r\ndelete " + strings.Repeat("k", 251) + "\r\n" +
		"incr " + strings.Repeat("k", 251) + " 1\r\ntouch " + strings.Repeat("k", 251) + " 1\r\n" +
		"mg " + strings.Repeat("k", 251) + " v\r\nms " + strings.Repeat("k", 251) + " 1\r\nx\r\n" +
		"md " + strings.Repeat("k", 251) + "\r\nma " + strings.Repeat("k", 251) + "\r\n",
	"too-large": "set k 0 0 1\r\nv\r\nset k 0 0 2000000\r\n" + strings.Repeat("x", 2000000) + "\r\nget k\r\n" +
		"set j 0 0 1\r\nv\r\nadd j 0 0 2000000\r\n" + strings.Repeat("y", 2000000) + "\r\nget j\r\n" +
		"ms j 2000000 T0\r\n" + strings.Repeat("z", 2000000) + "\r\nget j\r\n" +
		"set n 0 0 2000000 noreply\r\n" + strings.Repeat("x", 2000000) + "\r\nget n\r\n",
	"flush": "set a 0 0 1\r\na\r\nflush_all\r\nget a\r\nset a 0 0 1\r\nb\r\nget a\r\nflush_all 0\r\nget a\r\n" +
		"set a 0 0 1\r\nc\r\nflush_all -1\r\nget a\r\nflush_all noreply\r\nflush_all 0 noreply\r\n",
	"multiget": func() string {
		var b strings.Builder
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&b, "set key%d %d 0 %d\r\n%s\r\n", i, i, i%7, strings.Repeat("v", i%7))
		}
		b.WriteString("get")
		for i := 0; i < 120; i++ {
			fmt.Fprintf(&b, " key%d", i)
		}
		b.WriteString("\r\ngets key1 key1 key2\r\n")
		return b.String()
	}(),
	"meta-get": "mg\r\nmg a\r\nmg a v\r\nms a 2\r\nhi\r\nmg a v c f s t k O123 h\r\nmg a\r\nmg a q\r\nmg b q v\r\n" +
		"mg b v O1 k\r\nmg a v v\r\nmg a zz\r\nmg a O123456789012345678901234567890123\r\nmg a k q v\r\n" +
		"mg a s h u\r\nmg a h\r\nmg a P1 L2 v\r\nmg a a b c d e f g h i j k l m n o p q r s\r\nmg a Tx\r\nmg a N\r\n" +
		"mg a F5 v\r\nmg a \xff\r\nmg a T0 t v\r\n",
	"meta-set": "ms a 2 T0 F5 c\r\nab\r\nmg a f v\r\nms a bad\r\nab\r\nms a 2 MZ\r\nab\r\nms a 2 Ms\r\nab\r\n" +
		"ms a 2 ME\r\nab\r\nms b 2 ME c\r\nbc\r\nms a 2 MA\r\ncd\r\nms a 2 MP k\r\nef\r\nmg a v\r\nms zz 1 MA\r\nx\r\n" +
		"ms zz 1 MR\r\nx\r\nms a 1 MR q\r\nx\r\nms a 2 C1\r\nxx\r\nms a 1 C0\r\nq\r\nms a 1 q\r\ny\r\nms a 1 q O5 k\r\ny\r\n" +
		"mg a c\r\nms a 1 C7 c\r\nz\r\nms a 1 I\r\nz\r\nms\r\nms a\r\nms a 1 MAA\r\nx\r\n" +
		"ms a 1 O123456789012345678901234567890123\r\nx\r\nms a 1 F-1\r\nx\r\nms a 1 Fx\r\nx\r\nms a 1 Tx\r\nx\r\n" +
		"ms a 1 T1 T2\r\nx\r\nms a 1 z\r\nx\r\nms a -1\r\nms a 1\r\nxyz\r\n" +
		"ms a 1 a b c d e f g h i j k l m n o p\r\nx\r\nms a 0\r\n\r\nmg a v s\r\n",
	// 1.6.18 parses ms N<ttl> and s but does neither: an append or prepend
	// to a missing key is NS (no autovivify) and no size is returned.
	"meta-set-n-s": "ms a 2 MA N30 s k\r\nhi\r\nmg a v t s\r\nms b 2 s\r\nhi\r\nms c 2 MP N0 T30\r\nhi\r\n" +
		"mg c v t\r\nms d 1 MS N30\r\nx\r\nmg d t v\r\nms e 1 MA N\r\nx\r\nmg e t v\r\nms f 1 MA Nx\r\nx\r\n" +
		"ms d 1 MA N30 s\r\ny\r\nmg d v s\r\n",
	// Listings are left out: memcached lists only its cold LRU, which it
	// fills over time.
	"cachedump-crawler": "stats cachedump 1 1\r\nstats cachedump 0 0\r\nstats cachedump 64 0\r\nstats cachedump 200 0\r\n" +
		"stats cachedump x 1\r\nstats cachedump 1 x\r\nstats cachedump 1\r\nstats cachedump\r\nstats cachedump 1 1 1\r\n" +
		"stats cachedump -1 1\r\nstats cachedump 1 -1\r\nlru_crawler enable\r\nlru_crawler disable\r\nlru_crawler disable\r\n",
	// The store has no slab pages or LRU segments; the arguments are
	// checked as memcached checks them. cache_memlimit with a value the
	// store honours is in TestCacheMemlimitAdjustsAtRunTime.
	"tuning": "slabs automove 0\r\nslabs automove 2\r\nslabs automove 3\r\nslabs automove x\r\nslabs automove\r\nslabs\r\n" +
		"slabs automove 1 noreply\r\nslabs automove 3 noreply\r\nslabs automove 1 2\r\nslabs automove ratio 0.5\r\nslabs automove ratio\r\n" +
		"slabs reassign 1 2\r\nslabs reassign 1 1\r\nslabs reassign 50 50\r\nslabs reassign 0 1\r\nslabs reassign 39 1\r\n" +
		"slabs reassign 40 1\r\nslabs reassign 1 -1\r\nslabs reassign x 1\r\nslabs reassign 1\r\nslabs reassign 1 2 noreply\r\nslabs bogus\r\n" +
		"lru\r\nlru tune\r\nlru tune 10 25 0.1 2\r\nlru tune 10 25 0.1\r\nlru tune 40 40 0.1 2 x\r\nlru tune 41 40 0.1 2\r\n" +
		"lru tune -1 25 0.1 2\r\nlru tune 10 x 0.1 2\r\nlru tune 10 25 -1 2\r\nlru tune 10 25 0.1 2 noreply\r\nlru mode flat\r\n" +
		"lru mode segmented x\r\nlru mode x\r\nlru mode\r\nlru mode flat noreply\r\nlru temp_ttl -1\r\nlru temp_ttl x\r\nlru temp_ttl\r\n" +
		"lru bogus 1\r\ncache_memlimit 7\r\ncache_memlimit 4294967296\r\ncache_memlimit 1000000001\r\ncache_memlimit 7 noreply\r\n" +
		"cache_memlimit x\r\ncache_memlimit -1\r\ncache_memlimit\r\n",
	"meta-delete": "ms a 1\r\nx\r\nmd a q\r\nmd a q\r\nmd a\r\nmd a O9 k\r\nms a 1 c\r\nx\r\nmd a C99\r\n" +
		"md a C2 q\r\nmg a\r\nmd a zz\r\nmd a q q\r\nmd\r\nmd a O123456789012345678901234567890123\r\n" +
		"ms b 1\r\nb\r\nmd b I\r\nmg b v c\r\nmg b v c\r\nms b 1 I C1\r\nn\r\nmg b v c\r\nms b 1 I C999\r\nn\r\n" +
		"ms b 1 C4 I c\r\nn\r\nmg b c v\r\nmd b I q\r\nmg b c\r\n",
	"meta-arith": "ma a\r\nms c 1\r\n5\r\nma c\r\nma c v\r\nma c MD D10 v\r\nma c N0 J5 v t c\r\nma z N0 J5 v t c\r\n" +
		"ma z q\r\nma z q v\r\nma nope q\r\nma c M+ D3 v\r\nma c M- v\r\nma c MX\r\nma c Dx\r\nma c Jx\r\n" +
		"ma c C1 v\r\nmg c c\r\nma c C4 v c\r\nms t 1\r\nt\r\nma t\r\nma c O77 k\r\nma nope O1 k\r\nma c MDD\r\n" +
		"ms big 20\r\n18446744073709551615\r\nma big v\r\nma c D-1\r\nma\r\nma c zz\r\n",
	"herd": "mg herd v c N30\r\nmg herd v c N30\r\nmg herd s\r\nms herd 3 T60\r\nabc\r\nmg herd v c\r\n" +
		"md herd I T30\r\nmg herd v c\r\nmg herd v c\r\nms herd 3 T60 I\r\nxyz\r\nmg herd v c\r\n" +
		"mg herd R30 v\r\nmg herd R90 v\r\nmg herd R90 v\r\nmg herd T0 t\r\nmg herd t\r\nms herd 1 T0\r\nq\r\n" +
		"mg herd R99999 v\r\nmg other N0 q\r\nmg other q\r\nmg other k v\r\n",
	// An item remembers that its key was set in base64: mg k shows it so
	// (ms, md and ma echo the request), until a plain set, an append, a
	// prepend or an incr that outgrows the number; items mg N and ma N
	// create do not remember it.
	"binary-key-memory": "ms Zm9v 1 b\r\nz\r\nmg foo k v\r\nmg Zm9v b k v\r\nms bar 1\r\ny\r\nmg YmFy b k v\r\n" +
		"ms foo 1 k\r\ny\r\nmg foo k v\r\nms Zm9v 1 b\r\nz\r\nms Zm9v 1 b MA k\r\nw\r\nmg foo k v\r\n" +
		"ms Zm9v 1 b\r\nz\r\nappend foo 0 0 1\r\nq\r\nmg foo k\r\nms Zm9v 1 b\r\nz\r\nprepend foo 0 0 1\r\nq\r\nmg foo k\r\n" +
		"ms Zm9v 1 b MS\r\n1\r\ntouch foo 0\r\ngat 40 foo\r\nmg foo k T30 v\r\nget foo\r\nmd foo I\r\nmg foo k\r\n" +
		"mg foo k v\r\nma foo k\r\nmg YmF6 b N30 k\r\nmg baz k\r\nmd Zm9v b k\r\nmd foo k\r\n" +
		"ma bnVt b N0 J3 v k\r\nmg num k v\r\nms cXV4 1 b\r\n5\r\nma qux\r\nmg qux k v\r\nms cXV4 1 b\r\n9\r\nma qux\r\n" +
		"mg qux k v\r\nms Zm9v 1 b C99 k\r\nx\r\nms Zm9v 1 b ME k\r\nx\r\nmg foo k\r\nms foo 1 MR\r\ny\r\nmg foo k\r\n",
	"base64": "mg Zm9v b v k\r\nms Zm9v 1 b\r\nz\r\nmg Zm9v b v k c\r\nmg ZZZ b v\r\nmg Zm9v= b\r\n" +
		"ms YmFy 3 b k O1\r\nbar\r\nmd YmFy b q k\r\nmd YmFy b k\r\nma bnVt b N0 J3 v k\r\n" +
		"ms AAEC 1 b\r\nx\r\nmg AAEC b k v\r\nmg !!!! b\r\nms !!!! 1 b\r\nx\r\n",
}

// step separates the parts of a script that must be answered in full
// before the next part is sent.
const step = "\x00step\x00"

// exchange sends script step by step (each followed by mn) and returns
// every reply.
func exchange(t *testing.T, addr, script string) string {
	t.Helper()
	c := dial(t, addr)
	var out strings.Builder
	for _, part := range strings.Split(script, step) {
		out.WriteString(c.do(part))
	}
	return out.String()
}

func TestDifferentialAgainstMemcached(t *testing.T) {
	testproc.RequireMemcached(t)
	for name, script := range differentialScripts {
		t.Run(name, func(t *testing.T) {
			mc := testproc.StartMemcached(t)
			_, zc := startServer(t, Config{})
			want := exchange(t, mc.Addr, script)
			got := exchange(t, zc, script)
			if got != want {
				t.Errorf("replies differ from memcached 1.6.18\n%s", lineDiff(want, got))
			}
			if want == "" {
				t.Errorf("script produced no replies at all")
			}
		})
	}
}

// lineDiff shows the first differing reply line with some context.
func lineDiff(want, got string) string {
	w := strings.SplitAfter(want, "\r\n")
	g := strings.SplitAfter(got, "\r\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(0, i-3)
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at reply line %d\n", i)
	for j := from; j < i+4; j++ {
		var wl, gl string
		if j < len(w) {
			wl = w[j]
		}
		if j < len(g) {
			gl = g[j]
		}
		mark := " "
		if wl != gl {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s memcached %-50.200q zonecached %.200q\n", mark, wl, gl)
	}
	return b.String()
}
