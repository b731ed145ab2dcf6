package server

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"
)

// An event loop runs only the commands that arrived whole and hands a
// connection to a goroutine for the rest, then takes it back: how a
// script's bytes arrive decides which of the two runs each command. The
// replies must not depend on it. These tests send the same script to a
// server with one loop in pieces, with pauses between some of them, and
// to a server without loops in one write, and compare the replies byte
// for byte.

// arrivalScript is randomScript's commands with, now and then, what makes
// a loop hand its connection over: values larger than the read buffer, a
// get line longer than memcached's 2048 bytes; and reads of those values.
func arrivalScript(r *rand.Rand, parts int) string {
	var b strings.Builder
	for i := range parts {
		b.WriteString(randomScript(r, 20))
		switch r.Intn(8) {
		case 0, 1:
			n := readBufferSize + r.Intn(3*readBufferSize)
			fmt.Fprintf(&b, "set big%d 0 0 %d\r\n%s\r\nget big%d\r\n", i, n, bytes.Repeat([]byte{'a' + byte(i%26)}, n), i)
		case 2, 3:
			fmt.Fprintf(&b, "mg big%d v s\r\nmg a v\r\n", r.Intn(parts))
		case 4:
			b.WriteString("get")
			for k := range 300 {
				fmt.Fprintf(&b, " key-%d", k)
			}
			b.WriteString(" a b\r\n")
		}
	}
	return b.String() + "mn\r\n"
}

// arrivalExchange writes script to addr, in one write when r is nil,
// else cut at random places with a pause of 50–550 µs after a third of
// the pieces; then it closes its side for writing, so that the server ends
// the connection once it has read everything, and returns every reply
// read until then. A server that ends the connection early (a bad line)
// stops the writes quietly; its replies show it.
func arrivalExchange(t *testing.T, addr, script string, r *rand.Rand) string {
	t.Helper()
	c := dial(t, addr)
	type result struct {
		got string
		err error
	}
	read := make(chan result, 1)
	go func() {
		got, err := c.readAll()
		read <- result{got, err}
	}()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioDeadline))
	for rest := script; rest != ""; {
		n := len(rest)
		if r != nil {
			n = min(n, 1+r.Intn(64))
			if r.Intn(8) == 0 {
				n = min(len(rest), 1+r.Intn(4*readBufferSize))
			}
		}
		if _, err := c.nc.Write([]byte(rest[:n])); err != nil {
			break // the server ended the connection
		}
		rest = rest[n:]
		if r != nil && r.Intn(3) == 0 {
			time.Sleep(time.Duration(50+r.Intn(500)) * time.Microsecond)
		}
	}
	_ = c.nc.(*net.TCPConn).CloseWrite()
	res := <-read
	var ne net.Error
	if errors.As(res.err, &ne) && ne.Timeout() {
		t.Fatalf("no end of the replies within %v; got %d bytes", ioDeadline, len(res.got))
	}
	return res.got
}

// arrivalServer starts a fresh server with loops (1, or -1 for none) on
// a clock that stands still, so that replies carrying times match.
func arrivalServer(t *testing.T, loops int) (*Server, string) {
	return startServer(t, Config{EventLoops: loops, Now: newFakeClock().Now})
}

func TestEventLoopRepliesDoNotDependOnArrival(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 8
	}
	var handoffs uint64
	for seed := int64(1); seed <= int64(seeds); seed++ {
		r := rand.New(rand.NewSource(seed))
		script := arrivalScript(r, 6)
		_, whole := arrivalServer(t, -1)
		want := arrivalExchange(t, whole, script, nil)
		if !strings.HasSuffix(want, "MN\r\n") {
			t.Fatalf("seed %d: the server without loops did not read the whole script: %.300q", seed, want[max(0, len(want)-300):])
		}
		s, addr := arrivalServer(t, 1)
		got := arrivalExchange(t, addr, script, r)
		if got != want {
			t.Fatalf("seed %d: replies through the loop, the script in pieces, differ from those without loops\n%s", seed, lineDiff(want, got))
		}
		handoffs += s.handoffs[handoffRead].Load()
	}
	// Most handoffs come from a pause that cuts a data block.
	if handoffs < uint64(seeds) {
		t.Errorf("%d scripts made %d handoffs from the loop to a goroutine: too few to test them", seeds, handoffs)
	}
}

// FuzzEventLoopArrival is TestEventLoopRepliesDoNotDependOnArrival on
// arbitrary input, with the parser fuzzers' seeds: the replies through one
// loop, the input cut by split's random source, must equal those without
// loops, the input in one write. Inputs whose replies legitimately depend
// on how they arrive are skipped, as in FuzzChunking.
func FuzzEventLoopArrival(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), int64(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, split int64) {
		if len(data) > 8<<10 || bytes.Contains(data, []byte("metadump")) || bytes.Contains(data, []byte("stats")) ||
			bytes.Contains(data, []byte("watch")) || bytes.Contains(bytes.ToLower(data), []byte("mn")) || bytes.IndexByte(data, binaryRequestMagic) >= 0 {
			return
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(line) > 2000 {
				return
			}
		}
		// The closing mn shows that the server read the whole input;
		// an input that ends the connection (quit, a bad line) or whose
		// last data block eats the mn is left out, as its replies may
		// depend on where the server stopped reading.
		script := string(data) + "\r\nmn\r\n"
		_, whole := arrivalServer(t, -1)
		want := arrivalExchange(t, whole, script, nil)
		if !strings.HasSuffix(want, "MN\r\n") {
			return
		}
		_, addr := arrivalServer(t, 1)
		if got := arrivalExchange(t, addr, script, rand.New(rand.NewSource(split))); got != want {
			t.Fatalf("replies through the loop, the input in pieces, differ from those without loops\n%s", lineDiff(want, got))
		}
	})
}
