package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTextStorageAndRetrieval(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	got := c.do("set a 5 0 3\r\nabc\r\nget a\r\ngets a\r\nadd a 0 0 1\r\nx\r\nadd b 0 0 1\r\ny\r\n" +
		"replace zz 0 0 1\r\nx\r\nreplace b 7 0 2\r\nyy\r\nappend a 0 0 2\r\nde\r\nprepend a 0 0 2\r\n__\r\n" +
		"get a b zz\r\nappend nokey 0 0 1\r\nx\r\n")
	want := "STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\nVALUE a 5 3 1\r\nabc\r\nEND\r\nNOT_STORED\r\nSTORED\r\n" +
		"NOT_STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n" +
		"VALUE a 5 7\r\n__abcde\r\nVALUE b 7 2\r\nyy\r\nEND\r\nNOT_STORED\r\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestTextCAS(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	got := c.do("set k 0 0 1\r\na\r\ngets k\r\ncas k 0 0 1 99\r\nb\r\ncas k 0 0 1 1\r\nc\r\ngets k\r\ncas nokey 0 0 1 1\r\nd\r\ncas k 0 0 1 0\r\ne\r\n")
	want := "STORED\r\nVALUE k 0 1 1\r\na\r\nEND\r\nEXISTS\r\nSTORED\r\nVALUE k 0 1 2\r\nc\r\nEND\r\nNOT_FOUND\r\nEXISTS\r\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestIncrDecrQuirks(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	got := c.do("set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\nincr n 18446744073709551615\r\ndecr n 100\r\n" +
		"set m 0 0 20\r\n18446744073709551615\r\nincr m 1\r\nincr x 1\r\nset s 0 0 1\r\nx\r\nincr s 1\r\nincr n -1\r\n")
	want := "STORED\r\n9\r\nVALUE n 0 2\r\n9 \r\nEND\r\n8\r\n0\r\nSTORED\r\n0\r\nNOT_FOUND\r\nSTORED\r\n" +
		"CLIENT_ERROR cannot increment or decrement non-numeric value\r\nCLIENT_ERROR invalid numeric delta argument\r\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestExpiryWithClock(t *testing.T) {
	clk := newFakeClock()
	_, addr := startServer(t, Config{Now: clk.Now})
	c := dial(t, addr)
	abs := clk.Now().Unix() + 100
	got := c.do(fmt.Sprintf("set a 0 10 1\r\na\r\nset b 0 %d 1\r\nb\r\nset c 0 -1 1\r\nc\r\nset d 0 0 1\r\nd\r\nmg a t\r\nmg b t\r\nmg c t\r\nmg d t\r\n", abs))
	want := "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\nHD t10\r\nHD t100\r\nEN\r\nHD t-1\r\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	clk.Advance(10 * time.Second)
	if got := c.do("get a b d\r\n"); got != "VALUE b 0 1\r\nb\r\nVALUE d 0 1\r\nd\r\nEND\r\n" {
		t.Fatalf("after 10s: %q", got)
	}
	if got := c.do("touch b 5\r\ngat 0 d\r\nmg b t\r\nmg d t\r\n"); got != "TOUCHED\r\nVALUE d 0 1\r\nd\r\nEND\r\nHD t5\r\nHD t-1\r\n" {
		t.Fatalf("touch: %q", got)
	}
	// flush_all with a delay flushes when the clock reaches it.
	if got := c.do("flush_all 30\r\nget d\r\n"); got != "OK\r\nVALUE d 0 1\r\nd\r\nEND\r\n" {
		t.Fatalf("delayed flush: %q", got)
	}
	clk.Advance(31 * time.Second)
	if got := c.do("get d\r\n"); got != "END\r\n" {
		t.Fatalf("after delayed flush: %q", got)
	}
}

func TestNoreplySuppressesEverything(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	got := c.do("set a 0 0 1 noreply\r\na\r\nadd a 0 0 1 noreply\r\nb\r\nincr a 1 noreply\r\ndelete a noreply\r\n" +
		"delete a noreply\r\nflush_all noreply\r\nverbosity noreply\r\ntouch a 1 noreply\r\nset b x 0 1 noreply\r\n")
	if got != "" {
		t.Fatalf("noreply commands answered %q", got)
	}
}

func TestTooLargeValueIsSwallowedAndSetDeletes(t *testing.T) {
	_, addr := startServer(t, Config{MaxItemSize: 4096, MaxBytes: 8 << 20})
	c := dial(t, addr)
	big := strings.Repeat("x", 100000)
	got := c.do("set k 0 0 1\r\nv\r\nset k 0 0 100000\r\n" + big + "\r\nget k\r\nadd j 0 0 100000\r\n" + big + "\r\n")
	want := "STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\nSERVER_ERROR object too large for cache\r\n"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestLongMultiGetLineIsStreamed(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	var cmd, want strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&cmd, "set key%04d 0 0 4\r\nv%03d\r\n", i*97, i)
	}
	c.do(cmd.String())
	cmd.Reset()
	cmd.WriteString("get")
	for i := 0; i < 5000; i++ { // about 40 KB: longer than the read buffer
		fmt.Fprintf(&cmd, " key%04d", i)
		if i%97 == 0 && i/97 < 50 {
			fmt.Fprintf(&want, "VALUE key%04d 0 4\r\nv%03d\r\n", i, i/97)
		}
	}
	cmd.WriteString("\r\n")
	want.WriteString("END\r\n")
	if got := c.do(cmd.String()); got != want.String() {
		t.Fatalf("long get: got %d bytes, want %d:\n%.300q", len(got), want.Len(), got)
	}
	// A key over 250 bytes in a long line aborts the get.
	line := "get " + strings.Repeat("a ", 1500) + strings.Repeat("k", 300) + " b\r\n"
	if got := c.do(line); got != "CLIENT_ERROR bad command line format\r\n" {
		t.Fatalf("long get with long key: %q", got)
	}
	if got := c.do("get key0000\r\n"); got != "VALUE key0000 0 4\r\nv000\r\nEND\r\n" {
		t.Fatalf("after: %q", got)
	}
}

func TestJunkWithoutNewlineClosesOnlyThatConnection(t *testing.T) {
	_, addr := startServer(t, Config{})
	other := dial(t, addr)
	other.do("set k 0 0 1\r\nv\r\n")
	c := dial(t, addr)
	c.send(strings.Repeat("\x00garbage\xff", 300)) // 2.7 KB, no newline
	if _, closed := c.closed(); !closed {
		t.Fatal("connection with 2 KB of junk and no newline was not closed")
	}
	h := dial(t, addr)
	h.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if out, closed := h.closed(); !closed || out != "" {
		t.Fatalf("HTTP request: closed=%v out=%q", closed, out)
	}
	if got := other.do("get k\r\n"); got != "VALUE k 0 1\r\nv\r\nEND\r\n" {
		t.Fatalf("other connection: %q", got)
	}
}

func TestQuitClosesAfterReplies(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	c.send("version\r\nquit\r\nversion\r\n")
	out, closed := c.closed()
	if !closed || out != "VERSION "+Version+"\r\n" {
		t.Fatalf("closed=%v out=%q", closed, out)
	}
	if !strings.HasPrefix(Version, "1.6.") {
		t.Fatalf("version %q must start with 1.6.", Version)
	}
}
