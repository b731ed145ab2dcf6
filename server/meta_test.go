package server

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/server/internal/store"
)

// Meta features newer than memcached 1.6.18 (E, md x) and TTL reporting,
// which the differential test leaves out, tested with an injected clock.

func TestMetaTTLAndLastAccessWithClock(t *testing.T) {
	clk := newFakeClock()
	_, addr := startServer(t, Config{Now: clk.Now})
	c := dial(t, addr)
	if got := c.do("ms k 1 T100\r\nx\r\nmg k t l h\r\n"); got != "HD\r\nHD t100 l0 h0\r\n" {
		t.Fatalf("got %q", got)
	}
	clk.Advance(40 * time.Second)
	if got := c.do("mg k t l h\r\nmg k T10 t\r\n"); got != "HD t60 l40 h1\r\nHD t10\r\n" {
		t.Fatalf("got %q", got)
	}
	// R: the first reader within R seconds of expiry wins, later ones see Z.
	if got := c.do("mg k R20 t\r\nmg k R20 t\r\n"); got != "HD t10 W\r\nHD t10 Z\r\n" {
		t.Fatalf("recache: %q", got)
	}
	clk.Advance(10 * time.Second)
	if got := c.do("mg k v\r\n"); got != "EN\r\n" {
		t.Fatalf("expired: %q", got)
	}
	// N vivifies with its TTL; ma N too.
	if got := c.do("mg v N30 t c\r\nma n N50 J7 t v\r\n"); !regexp.MustCompile(`^HD t30 c\d+ W\r\nVA 1 t50\r\n7\r\n$`).MatchString(got) {
		t.Fatalf("vivify: %q", got)
	}
}

func TestMetaExplicitCAS(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	got := c.do("ms k 1 E1000 c\r\na\r\nmg k c\r\nms k 1 C1000 E2000 c\r\nb\r\nms k 1 C1000 E3000\r\nc\r\n" +
		"md k I E2500\r\nmg k c\r\nma n N0 J1 E77 c\r\nma n E78 c v\r\nmg w N0 E500 c\r\nmd k C2500 E9 q\r\nmg k\r\n")
	want := "HD c1000\r\nHD c1000\r\nHD c2000\r\nEX\r\nHD\r\nHD c2500 W X\r\n" +
		"HD c77\r\nVA 1 c78\r\n2\r\nHD c500 W\r\nEN\r\n"
	// mg after md I shows Z-less X W: reorder the expectation as memcached
	// prints flags (W X order is Z, X, W).
	want = strings.Replace(want, "HD c2500 W X", "HD c2500 X W", 1)
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestMetaDeleteDropValue(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	got := c.do("ms k 5 F9 T0\r\nhello\r\nmd k x\r\nmg k v f s\r\nmd k x q\r\nmd nokey x\r\n")
	if want := "HD\r\nHD\r\nVA 0 f0 s0\r\n\r\nNF\r\n"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestMetaDebugAndMetadump(t *testing.T) {
	clk := newFakeClock()
	_, addr := startServer(t, Config{Now: clk.Now})
	c := dial(t, addr)
	now := clk.Now().Unix()
	c.do("set a 1 100 1\r\nx\r\nset b/c 0 0 2\r\nxy\r\nget a\r\n")
	clk.Advance(5 * time.Second)
	// me prints the key as the item was stored, as memcached 1.6.18 does:
	// plain for a, even when asked in base64.
	got := c.do("me a\r\nme nokey\r\nme YQ== b\r\nme\r\n")
	re := regexp.MustCompile(`^ME a exp=-95 la=5 cas=1 fetch=yes cls=1 size=\d+\r\nEN\r\nME a exp=-95 la=5 cas=1 fetch=yes cls=1 size=\d+\r\nCLIENT_ERROR bad command line format\r\n$`)
	if !re.MatchString(got) {
		t.Fatalf("me: %q", got)
	}
	// A key set in base64 is printed in base64, also when asked in plain.
	c.do("ms Ymlu 1 b\r\nz\r\n")
	got = c.do("me bin\r\nme Ymlu b\r\n")
	re = regexp.MustCompile(`^ME Ymlu exp=-1 la=0 cas=3 fetch=no cls=1 size=\d+\r\nME Ymlu exp=-1 la=0 cas=3 fetch=no cls=1 size=\d+\r\n$`)
	if !re.MatchString(got) {
		t.Fatalf("me of a binary key: %q", got)
	}
	c.do("md Ymlu b\r\n")
	c.send("lru_crawler metadump all\r\n")
	dump := c.readUntil("END\r\n")
	lines := strings.Split(strings.TrimSuffix(dump, "END\r\n"), "\n")
	lines = lines[:len(lines)-1]
	if len(lines) != 2 {
		t.Fatalf("metadump: %q", dump)
	}
	wantA := regexp.MustCompile(fmt.Sprintf(`^key=a exp=%d la=%d cas=1 fetch=yes cls=1 size=\d+$`, now+100, now))
	wantB := regexp.MustCompile(fmt.Sprintf(`^key=b%%2Fc exp=-1 la=%d cas=2 fetch=no cls=1 size=\d+$`, now))
	if !(wantA.MatchString(lines[0]) && wantB.MatchString(lines[1]) || wantA.MatchString(lines[1]) && wantB.MatchString(lines[0])) {
		t.Fatalf("metadump lines: %q", lines)
	}
	if got := c.do("lru_crawler metadump 1,2\r\n"); !strings.HasSuffix(got, "END\r\n") || strings.Count(got, "key=") != 2 {
		t.Fatalf("metadump by class: %q", got)
	}
	if got := c.do("lru_crawler metadump x\r\n"); got != "BADCLASS invalid class id\r\n" {
		t.Fatalf("bad class: %q", got)
	}
	c.send("get a\r\nlru_crawler metadump all\r\n")
	if got := c.readUntil("metadump\r\n"); !strings.HasSuffix(got, "ERROR cannot pipeline other commands before metadump\r\n") {
		t.Fatalf("pipelined metadump: %q", got)
	}
}

func TestStatsReportCounters(t *testing.T) {
	_, addr := startServer(t, Config{MaxBytes: 32 << 20})
	c := dial(t, addr)
	c.do("set a 0 0 1\r\nx\r\nget a b\r\ndelete b\r\n")
	got := c.do("stats\r\n")
	for _, want := range []string{"STAT version " + Version + "\r\n", "STAT cmd_get 2\r\n", "STAT get_hits 1\r\n",
		"STAT get_misses 1\r\n", "STAT cmd_set 1\r\n", "STAT delete_misses 1\r\n", "STAT curr_items 1\r\n",
		"STAT limit_maxbytes 33554432\r\n", "STAT curr_connections 1\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("stats lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(got, "END\r\n") {
		t.Errorf("stats does not end with END")
	}
	for _, sub := range []string{"settings", "items", "slabs"} {
		if got := c.do("stats " + sub + "\r\n"); !strings.HasPrefix(got, "STAT ") || !strings.HasSuffix(got, "END\r\n") {
			t.Errorf("stats %s: %q", sub, got)
		}
	}
	if got := c.do("stats reset\r\nstats detail\r\nstats bogus\r\n"); got != "RESET\r\nCLIENT_ERROR usage: stats detail on|off|dump\r\nERROR\r\n" {
		t.Errorf("stats subcommands: %q", got)
	}
}

func TestMetadumpOfManyItems(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	var b strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "set key%05d 0 0 1 noreply\r\nv\r\n", i)
	}
	c.do(b.String())
	c.send("lru_crawler metadump all\r\n")
	dump := c.readUntil("END\r\n")
	if n := strings.Count(dump, "\n") - 1; n != 3000 {
		t.Fatalf("metadump listed %d items, want 3000", n)
	}
	if got := c.do("get key00042\r\n"); got != "VALUE key00042 0 1\r\nv\r\nEND\r\n" {
		t.Fatalf("after metadump: %q", got)
	}
}

// DisableMeta answers meta commands as memcached before 1.6 does: ERROR for
// the command, and a data block that follows is read as another unknown
// command; text commands still work.
func TestDisableMetaAnswersErrorLikeOldMemcached(t *testing.T) {
	_, addr := startServer(t, Config{DisableMeta: true})
	c := dial(t, addr)
	c.send("mn\r\nmg k v\r\nms k 1\r\nx\r\nset k 0 0 1\r\ny\r\nget k\r\n")
	if got := c.readUntil("END\r\n"); got != "ERROR\r\nERROR\r\nERROR\r\nERROR\r\nSTORED\r\nVALUE k 0 1\r\ny\r\nEND\r\n" {
		t.Fatalf("got %q", got)
	}
}

// md I marks the item stale in place, as memcached does: its last access
// time, fetched bit and value stay; only the CAS changes.
func TestMetaDeleteInvalidateKeepsLastAccess(t *testing.T) {
	clk := newFakeClock()
	_, addr := startServer(t, Config{Now: clk.Now})
	c := dial(t, addr)
	c.do("set a 0 0 2\r\nhi\r\nset b 0 0 2\r\nho\r\nget b\r\n")
	clk.Advance(5 * time.Second)
	if got := c.do("md a I\r\nmd b I T30\r\n"); got != "HD\r\nHD\r\n" {
		t.Fatalf("md I: %q", got)
	}
	for _, tc := range []struct{ key, fetch string }{{"a", "no"}, {"b", "yes"}} {
		got := c.do("me " + tc.key + "\r\n")
		if want := fmt.Sprintf(" la=5 cas=%d fetch=%s ", map[string]int{"a": 3, "b": 4}[tc.key], tc.fetch); !strings.Contains(got, want) {
			t.Errorf("me %s after md I: %q, want %q", tc.key, got, want)
		}
	}
	if got := c.do("mg a l h v\r\n"); got != "VA 2 l5 h0 X W\r\nhi\r\n" {
		t.Errorf("mg after md I: %q", got)
	}
	c.send("lru_crawler metadump all\r\n")
	dump := c.readUntil("END\r\n")
	if want := fmt.Sprintf("key=b exp=%d la=%d ", clk.Now().Unix()+30, clk.Now().Unix()-5); !strings.Contains(dump, want) {
		t.Errorf("metadump after md I: %q, want %q", dump, want)
	}
}

// stats cachedump lists a class's items in memcached's format, up to the
// limit; lru_crawler disable makes crawl and metadump refuse until enable.
func TestCachedumpAndCrawlerSwitch(t *testing.T) {
	clk := newFakeClock()
	_, addr := startServer(t, Config{Now: clk.Now})
	c := dial(t, addr)
	c.do("set a 0 0 1\r\nx\r\nset b\x01 0 100 3\r\nxyz\r\nset big 0 0 200\r\n" + strings.Repeat("v", 200) + "\r\n")
	exp := clk.Now().Unix() + 100
	got := c.do("stats cachedump 1 0\r\n")
	lines := strings.Split(strings.TrimSuffix(got, "END\r\n"), "\r\n")
	lines = lines[:len(lines)-1]
	slices.Sort(lines)
	if want := []string{"ITEM a [1 b; 0 s]", fmt.Sprintf("ITEM b\x01 [3 b; %d s]", exp)}; !slices.Equal(lines, want) || !strings.HasSuffix(got, "END\r\n") {
		t.Fatalf("cachedump 1 0: %q", got)
	}
	if got := c.do("stats cachedump 1 1\r\n"); strings.Count(got, "ITEM ") != 1 {
		t.Fatalf("cachedump 1 1: %q", got)
	}
	if got := c.do(fmt.Sprintf("stats cachedump %d 0\r\n", slabClass(store.ItemSize(3, 200)))); got != "ITEM big [200 b; 0 s]\r\nEND\r\n" {
		t.Fatalf("cachedump of big's class: %q", got)
	}
	if got := c.do("lru_crawler disable\r\nlru_crawler crawl all\r\n"); got != "OK\r\nCLIENT_ERROR lru crawler disabled\r\n" {
		t.Fatalf("disable: %q", got)
	}
	if got := c.do("lru_crawler metadump all\r\n"); got != "CLIENT_ERROR lru crawler disabled\r\n" {
		t.Fatalf("metadump while disabled: %q", got)
	}
	if got := c.do("stats settings\r\n"); !strings.Contains(got, "STAT lru_crawler no\r\n") {
		t.Fatalf("settings while disabled: %q", got)
	}
	if got := c.do("lru_crawler enable\r\nlru_crawler enable\r\n"); got != "OK\r\nERROR failed to start lru crawler thread\r\n" {
		t.Fatalf("enable: %q", got)
	}
	c.send("lru_crawler metadump all\r\n")
	if got := c.readUntil("END\r\n"); strings.Count(got, "key=") != 3 {
		t.Fatalf("metadump after enable: %q", got)
	}
}

// slabClass follows memcached's default classes, including the last one,
// which takes every item from 493,553 bytes up.
func TestSlabClass(t *testing.T) {
	for _, tc := range []struct{ size, cls int }{
		{1, 1}, {96, 1}, {97, 2}, {120, 2}, {121, 3}, {394840, 38}, {394841, 39}, {493553, 39},
		{512 << 10, 39}, {1 << 30, lastSlabClass},
	} {
		if got := slabClass(tc.size); got != tc.cls {
			t.Errorf("slabClass(%d) = %d, want %d", tc.size, got, tc.cls)
		}
	}
}
