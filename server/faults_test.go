package server

import (
	"encoding/binary"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// TestRepliesFlushedBeforeWaitingForRestOfCommand sends complete commands
// followed by the start of another and waits for the replies without
// sending the rest: memcached answers at once, and so must zonecached, or a
// client that waits for replies before sending more hangs.
func TestRepliesFlushedBeforeWaitingForRestOfCommand(t *testing.T) {
	testproc.RequireMemcached(t)
	mc := testproc.StartMemcached(t)
	_, zc := startServer(t, Config{})
	partial := map[string]string{
		"get":     "get nokey\r\nge",
		"storage": "set a 0 0 1\r\nx\r\nget a\r\nset b 0 0 5\r\nab",
		"meta":    "ms m 1\r\ny\r\nmg m v\r\nmg m",
		"line":    "delete nokey\r\n",
	}
	want := map[string]string{
		"get":     "END\r\n",
		"storage": "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n",
		"meta":    "HD\r\nVA 1\r\ny\r\n",
		"line":    "NOT_FOUND\r\n",
	}
	for name, script := range partial {
		t.Run(name, func(t *testing.T) {
			for _, addr := range []string{mc.Addr, zc} {
				c := dial(t, addr)
				c.send(script)
				if got := c.readUntil(want[name]); got != want[name] {
					t.Errorf("%s: got %q, want %q", addr, got, want[name])
				}
			}
		})
	}
}

// TestBinaryRequestClosesConnection sends a binary-protocol get: the
// server, which speaks only the text protocols, must close the connection
// at once rather than leave the client waiting in silence.
func TestBinaryRequestClosesConnection(t *testing.T) {
	_, addr := startServer(t, Config{})
	for name, prefix := range map[string]string{"first": "", "after text": "get nokey\r\n"} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			req := make([]byte, 24, 25)
			req[0] = 0x80                          // request magic
			binary.BigEndian.PutUint16(req[2:], 1) // key length
			binary.BigEndian.PutUint32(req[8:], 1) // body length
			req = append(req, 'a')
			c.send(prefix + string(req))
			out, closed := c.closed()
			if !closed {
				t.Fatalf("connection still open after a binary request (got %q)", out)
			}
			if want := map[string]string{"first": "", "after text": "END\r\n"}[name]; out != want {
				t.Errorf("got %q before the close, want %q", out, want)
			}
		})
	}
}

// TestMetadumpToPausingReaderIsCompleteAndStallsNoOne lists 70,000 items to
// a reader that stops reading until another client has run 30 gets over
// every shard. A dump that held a shard while it waited on the reader would
// stall those gets for as long as the reader pauses, which here is until
// they are done: they could only time out. Once the reader goes on, every
// line must arrive, as from memcached (which may miss or repeat the items
// read meanwhile: it moves them in its LRU under its crawler).
func TestMetadumpToPausingReaderIsCompleteAndStallsNoOne(t *testing.T) {
	testproc.RequireMemcached(t)
	mc := testproc.StartMemcached(t)
	_, zc := startServer(t, Config{})
	t.Run("memcached", func(t *testing.T) { dumpToPausingReader(t, mc.Addr, false) })
	t.Run("zonecached", func(t *testing.T) { dumpToPausingReader(t, zc, true) })
}

func dumpToPausingReader(t *testing.T, addr string, exact bool) {
	const items, step = 70_000, 200
	// Long keys make a dump of about 17 MB, far more than socket buffers
	// hold: the server's writes block while the reader pauses.
	pad := strings.Repeat("p", 200)
	var load strings.Builder
	for i := range items {
		fmt.Fprintf(&load, "set key:%d:%s 0 0 1 noreply\r\nv\r\n", i, pad)
	}
	writer := dial(t, addr)
	writer.do(load.String())

	reader := dial(t, addr)
	reader.send("lru_crawler metadump all\r\n")
	first := readAtLeast(t, reader, 1) // the dump has started

	getter := dial(t, addr)
	var keys strings.Builder
	for i := 0; i < items; i += step {
		fmt.Fprintf(&keys, " key:%d:%s", i, pad)
	}
	for range 30 {
		if got := getter.do("get" + keys.String() + "\r\n"); strings.Count(got, "VALUE ") != items/step {
			t.Fatalf("get answered %.100q", got)
		}
	}

	rest := readAtLeast(t, reader, -1)
	lines := strings.Split(strings.TrimSuffix(first+rest, "END\r\n"), "\n")
	lines = lines[:len(lines)-1] // after the last newline
	seen := make(map[string]bool, len(lines))
	for _, l := range lines {
		key, _, _ := strings.Cut(l, " ")
		if !strings.HasPrefix(key, "key=key%3A") || exact && seen[key] {
			t.Fatalf("unexpected or repeated metadump line %.100q", l)
		}
		seen[key] = true
	}
	if min := items - items/step; len(seen) != items && (exact || len(seen) < min) {
		t.Errorf("metadump listed %d keys of %d items", len(seen), items)
	}
}

// readAtLeast reads n bytes or more, or (n < 0) until what was read ends
// with END\r\n; a failure reports the tail only.
func readAtLeast(t *testing.T, c *client, n int) string {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ioDeadline))
	var b strings.Builder
	buf := make([]byte, 64<<10)
	for (n < 0 && !strings.HasSuffix(b.String(), "END\r\n")) || (n >= 0 && b.Len() < n) {
		k, err := c.r.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			s := b.String()
			t.Fatalf("after %d bytes (%d lines): %v; tail %q", len(s), strings.Count(s, "\n"), err, s[max(0, len(s)-100):])
		}
	}
	return b.String()
}

// TestStatsDetailAsMemcached counts per-prefix gets, hits, sets and
// deletes and lists them in memcached's order (its hash table's buckets).
func TestStatsDetailAsMemcached(t *testing.T) {
	testproc.RequireMemcached(t)
	var many strings.Builder
	for i := range 40 {
		fmt.Fprintf(&many, "set pre%d:k 0 0 1\r\nx\r\nget pre%d:k pre%d:miss\r\n", i, i, i)
	}
	script := "stats detail dump\r\nstats detail on\r\nset p:1 0 0 1\r\nx\r\nget p:1 q:2 nokey\r\ngets p:1\r\n" +
		"gat 0 p:1\r\ngats 0 zz:1\r\ndelete p:1\r\ndelete r:1\r\nadd s:1 0 0 1 noreply\r\ny\r\n" +
		"set big:1 0 0 2000000\r\n" + strings.Repeat("b", 2000000) + "\r\n" +
		"mg p:1 v\r\nms m:1 1\r\nz\r\nmd m:1\r\ntouch p:1 0\r\nincr p:1 1\r\n" + many.String() +
		"stats detail off\r\nget p:1\r\nstats detail dump\r\nstats detail\r\nstats detail x\r\n" +
		"stats detail on x\r\nstats reset\r\nstats detail dump\r\n"
	diffScript(t, script)
}

// diffScript runs script on a fresh memcached started with args and a fresh
// zonecached, and compares the replies.
func diffScript(t *testing.T, script string, args ...string) {
	t.Helper()
	mc := testproc.StartMemcached(t, args...)
	_, zc := startServer(t, Config{})
	want := exchange(t, mc.Addr, script)
	if got := exchange(t, zc, script); got != want {
		t.Errorf("replies differ from memcached 1.6.18 %v\n%s", args, lineDiff(want, got))
	}
}

// TestStatsConnsAsMemcached lists the listener and two connections, an
// idle one and the one asking, in memcached's shape; descriptors, ports
// and seconds differ and are compared as numbers, and the idle states
// memcached passes through as one.
func TestStatsConnsAsMemcached(t *testing.T) {
	testproc.RequireMemcached(t)
	mc := testproc.StartMemcached(t)
	_, zc := startServer(t, Config{})
	digits := regexp.MustCompile(`[0-9]+`)
	// memcached shows an idle connection as conn_read, or conn_mwrite
	// for a moment after its last reply.
	idleState := regexp.MustCompile(`state conn_(read|mwrite|new_cmd|waiting)`)
	var replies [2]string
	for i, addr := range []string{mc.Addr, zc} {
		idle := dial(t, addr)
		idle.do("version\r\n")
		out := dial(t, addr).do("stats conns\r\n")
		replies[i] = connsByBlock(out, func(s string) string {
			return idleState.ReplaceAllString(digits.ReplaceAllString(s, "N"), "state idle")
		})
	}
	if replies[0] != replies[1] {
		t.Errorf("replies differ from memcached 1.6.18\n%s", lineDiff(replies[0], replies[1]))
	}
	if strings.Count(replies[1], ":state ") != 3 {
		t.Errorf("want a listener and two connections, got %q", replies[1])
	}
}

// connsByBlock returns a stats conns reply with each line normalised by
// norm, each connection's lines together and the connections in order of
// their normalised lines: memcached lists them by descriptor, and a
// descriptor freed by an earlier connection can put the asking one first.
func connsByBlock(reply string, norm func(string) string) string {
	blocks := map[string]string{}
	var rest strings.Builder
	for line := range strings.SplitAfterSeq(reply, "\r\n") {
		fd, _, ok := strings.Cut(strings.TrimPrefix(line, "STAT "), ":")
		if !ok || !strings.HasPrefix(line, "STAT ") {
			rest.WriteString(norm(line)) // END
			continue
		}
		blocks[fd] += norm(line)
	}
	sorted := slices.Sorted(maps.Values(blocks))
	return strings.Join(sorted, "") + rest.String()
}

// TestWatchAsMemcachedWithWatchDisabled: zonecached has no log stream and
// answers watch as memcached -W (--disable-watch) does, noreply included.
func TestWatchAsMemcachedWithWatchDisabled(t *testing.T) {
	testproc.RequireMemcached(t)
	script := "watch\r\nwatch noreply\r\nget a\r\nwatch fetchers\r\nwatch fetchers mutations\r\n" +
		"watch bogus\r\nwatch bogus noreply\r\nset a 0 0 1\r\nx\r\nget a\r\nwatch\r\n"
	diffScript(t, script, "-W")
}

// TestCacheMemlimitAdjustsAtRunTime lowers and raises the memory limit as
// memcached does: OK, stats reports the new limit, a lower limit keeps the
// items held (memcached frees nothing either) while new writes stay within
// it, and a higher one lets the store grow again (here up to the MaxBytes
// it started with; past it zonecached cannot adjust).
func TestCacheMemlimitAdjustsAtRunTime(t *testing.T) {
	testproc.RequireMemcached(t)
	mc := testproc.StartMemcached(t, "-m", "64")
	s, zc := startServer(t, Config{MaxBytes: 64 << 20})
	value := strings.Repeat("v", 4000)
	fill := func(c *client, prefix string, n int) {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "set %s%d 0 0 %d noreply\r\n%s\r\n", prefix, i, len(value), value)
		}
		c.do(b.String())
	}
	stat := func(c *client, name string) int64 {
		out := c.do("stats\r\n")
		_, rest, _ := strings.Cut(out, "STAT "+name+" ")
		line, _, _ := strings.Cut(rest, "\r\n")
		v, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			t.Fatalf("stat %s in %q: %v", name, out, err)
		}
		return v
	}
	for _, addr := range []string{mc.Addr, zc} {
		c := dial(t, addr)
		fill(c, "held", 2500) // about 10 MB
		if got := c.do("cache_memlimit 8\r\ncache_memlimit 16\r\ncache_memlimit 12 noreply\r\n"); got != "OK\r\nOK\r\n" {
			t.Fatalf("%s: cache_memlimit answered %q", addr, got)
		}
		if got := stat(c, "limit_maxbytes"); got != 12<<20 {
			t.Errorf("%s: limit_maxbytes %d after cache_memlimit 12", addr, got)
		}
		var keys strings.Builder
		for i := range 2500 {
			fmt.Fprintf(&keys, " held%d", i)
		}
		if got := strings.Count(c.do("get"+keys.String()+"\r\n"), "VALUE "); got != 2500 {
			t.Errorf("%s: %d of 2500 items kept after lowering the limit", addr, got)
		}
	}

	c := dial(t, zc)
	fill(c, "new", 10000) // about 40 MB
	held := s.store.Stats().ArenaBytes
	if held > 24<<20 || stat(c, "evictions") == 0 {
		t.Errorf("after 40 MB of writes under a 12 MB limit with 10 MB held: %d bytes of arena, %d evictions",
			held, stat(c, "evictions"))
	}
	if got := c.do("cache_memlimit 64\r\ncache_memlimit 65\r\n"); got != "OK\r\nMEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n" {
		t.Fatalf("raising the limit answered %q", got)
	}
	fill(c, "more", 12000) // about 48 MB
	if grown := s.store.Stats().ArenaBytes; grown < 40<<20 {
		t.Errorf("after raising the limit to 64 MB and writing 48 MB, the arena holds only %d bytes", grown)
	}
}
