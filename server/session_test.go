package server

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestCommandsSplitAnywhereAreServed sends storage commands cut at every
// byte, the server having read the first piece (its mn answered) before the
// rest is sent: each lands in a different branch of bufferedLine, or in
// readLine's.
func TestCommandsSplitAnywhereAreServed(t *testing.T) {
	_, addr := startServer(t, Config{})
	big := strings.Repeat("v", readBufferSize+100)
	cases := []struct{ script, want string }{
		{"set k 0 0 5\r\nhello\r\nget k\r\n", "STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n"},
		{"ms m 3 T0\r\nabc\r\nmg m v\r\n", "HD\r\nVA 3\r\nabc\r\n"},
		{"set b 0 0 " + strconv.Itoa(len(big)) + "\r\n" + big + "\r\nmg b s\r\n", "STORED\r\nHD s" + strconv.Itoa(len(big)) + "\r\n"},
	}
	c := dial(t, addr)
	for _, tc := range cases {
		step := 1
		if len(tc.script) > 200 {
			step = 997
		}
		for i := 1; i < len(tc.script); i += step {
			c.send("mn\r\n" + tc.script[:i])
			got := c.readAtLeast(len("MN\r\n"))
			c.send(tc.script[i:])
			if rest := len("MN\r\n"+tc.want) - len(got); rest > 0 {
				got += c.readAtLeast(rest)
			}
			if got != "MN\r\n"+tc.want {
				t.Fatalf("split at %d of %.40q: got %q, want MN and %q", i, tc.script, got, tc.want)
			}
		}
	}
}

func TestBlockSize(t *testing.T) {
	for line, want := range map[string]int{
		"get a b\r\n":                0,
		"delete a\r\n":               0,
		"set k 1 2 10\r\n":           12,
		"set k 1 2 10 noreply\n":     12,
		"cas k 1 2 3 99\r\n":         5,
		"append k 0 0 0\r\n":         2,
		"ms k 7 T0 F1\r\n":           9,
		"ms k\r\n":                   -1,
		"set k 1 2\r\n":              -1,
		"set k 1 2 -1\r\n":           -1,
		"set k 1 2 x\r\n":            -1,
		"set k 1 2 99999999999\r\n":  -1,
		"set  k  1  2  3\r\n":        5,
		"mn\r\n":                     0,
		"prepend k 0 0 16384\r\n":    16386,
		"prepend k 0 0 16385\r\n":    -1,
		"replace k 0 0 4 noreply\n":  6,
		"add k 0 0 1\r\n":            3,
		"stats\r\n":                  0,
		"lru_crawler metadump all\n": 0,
	} {
		if got := blockSize([]byte(line)); got != want {
			t.Errorf("blockSize(%q) = %d, want %d", line, got, want)
		}
	}
}

// TestLineWhoseBlockNeverComesIsAnsweredAtTheEnd sends a storage line that
// announces a data block larger than what follows, a command after it,
// then ends its input. memcached answers a malformed line at once; a
// server that waited for the block and met the end first dropped both
// replies (FuzzEventLoopArrival's seed c043410d3df388fe). Each run cuts
// the input after its first byte, so that the server reads the rest, with
// the end of the input, on a connection already waiting for it.
func TestLineWhoseBlockNeverComesIsAnsweredAtTheEnd(t *testing.T) {
	for _, loops := range []int{1, -1} {
		_, addr := startServer(t, Config{EventLoops: loops})
		for i := range 20 {
			c := dial(t, addr)
			c.send("s")
			c.send("et 0 X x 8201 CZ\r\nmn\r\n")
			if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := c.readAll()
			if err != nil {
				t.Fatal(err)
			}
			if want := "CLIENT_ERROR bad command line format\r\nMN\r\n"; got != want {
				t.Fatalf("loops=%d, run %d: got %q, want %q", loops, i, got, want)
			}
		}
	}
}
