package nodeclient

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/internal/testproc"
)

// TestServerErrorKeepsConnection: memcached refuses an item above its 1 MiB
// item limit with SERVER_ERROR (the client's own limit is raised here); the
// caller gets protocol.ErrServerError and the connection stays in step.
func TestServerErrorKeepsConnection(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	n := newTestNode(t, mc.Addr, Config{MaxValueSize: 4 << 20, Online: PoolConfig{Conns: 1, Timeout: relaxed.Timeout}})
	ctx := testCtx(t)
	p := n.Online()
	err := p.Set(ctx, Item{Key: "big", Value: make([]byte, 3<<19)})
	if !errors.Is(err, protocol.ErrServerError) {
		t.Fatalf("Set above the server's item limit: %v, want ErrServerError", err)
	}
	if err := p.Set(ctx, Item{Key: "small", Value: []byte("ok")}); err != nil {
		t.Fatal(err)
	}
	if it, err := p.Get(ctx, "small"); err != nil || string(it.Value) != "ok" {
		t.Fatalf("Get after SERVER_ERROR: %+v %v", it, err)
	}
	if d := n.Stats().Dials; d != 1 || n.State() != StateClosed {
		t.Fatalf("dials %d, state %v: an error reply must not cost the connection", d, n.State())
	}
}

// badServer is a real TCP server for fault injection: it answers the mn
// handshake, then answers every request line with the next canned reply.
func badServer(t *testing.T, replies ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				br := bufio.NewReader(c)
				i := 0
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					reply := "MN\r\n"
					if !strings.HasPrefix(line, "mn") {
						reply = replies[i%len(replies)]
						i++
					}
					if _, err := c.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestMalformedRepliesCloseConnection: a reply that cannot belong to the
// request (wrong opaque, unknown code, short value) fails it with
// ErrConnClosed wrapping protocol.ErrMalformed, and the next request gets a new
// connection.
func TestMalformedRepliesCloseConnection(t *testing.T) {
	cases := map[string]string{
		"wrong opaque":   "HD O999999\r\n",
		"no opaque":      "HD\r\n",
		"unknown code":   "ZZ O1\r\n",
		"value overruns": "VA 3 O1\r\nabcde\r\n",
		"garbage":        "\x00\x01\x02\r\n",
	}
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			addr := badServer(t, reply)
			n := newTestNode(t, addr, Config{
				Online:  PoolConfig{Conns: 1, Timeout: 5 * time.Second},
				Breaker: BreakerConfig{FailureThreshold: 100},
			})
			ctx := testCtx(t)
			for i := 0; i < 3; i++ {
				_, err := n.Online().Get(ctx, "k")
				if !errors.Is(err, ErrConnClosed) || !errors.Is(err, protocol.ErrMalformed) {
					t.Fatalf("Get %d: %v, want ErrConnClosed wrapping ErrMalformed", i, err)
				}
			}
			if d := n.Stats().Dials; d != 3 {
				t.Fatalf("dials %d, want a fresh connection per request", d)
			}
		})
	}
}

// TestNoMetaNode: a node that answers mn with ERROR is reported as
// ErrNoMeta.
func TestNoMetaNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := br.ReadString('\n'); err != nil {
						return
					}
					_, _ = c.Write([]byte("ERROR\r\n"))
				}
			}()
		}
	}()
	n := newTestNode(t, ln.Addr().String(), Config{Online: relaxed})
	if _, err := n.Online().Get(testCtx(t), "k"); !errors.Is(err, ErrNoMeta) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Get from a node without meta: %v, want ErrNoMeta and ErrUnreachable (no usable connection)", err)
	}
}

// TestRefusedDialIsUnreachable: a dial to a closed port fails with
// ErrUnreachable wrapping the net error; it is a hard failure that opens the
// breaker at once, after which callers fail fast with ErrCircuitOpen.
func TestRefusedDialIsUnreachable(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testproc.FreePort(t, "127.0.0.1")))
	n := newTestNode(t, addr, Config{Online: relaxed, Breaker: BreakerConfig{ProbeInitial: time.Hour, ProbeMax: time.Hour}})
	ctx := testCtx(t)
	_, err := n.Online().Get(ctx, "k")
	var opErr *net.OpError
	if !errors.Is(err, ErrUnreachable) || !errors.As(err, &opErr) || errors.Is(err, ErrConnClosed) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Get from a closed port: %v, want ErrUnreachable wrapping the *net.OpError", err)
	}
	if s := n.Stats(); s.DialFailures != 1 || n.State() != StateOpen {
		t.Fatalf("dial failures %d, breaker %v: want 1 and open (a refused dial is a hard failure)", s.DialFailures, n.State())
	}
	if _, err := n.Online().Get(ctx, "k"); !errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("Get with the breaker open: %v, want ErrCircuitOpen alone", err)
	}
	if s := n.Stats(); s.Dials != 1 || s.FastFails != 1 {
		t.Fatalf("dials %d, fast fails %d: want 1 and 1", s.Dials, s.FastFails)
	}
}

func TestParseCounter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"7   ", 7, true}, // a shrinking decr is padded with spaces
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"", 0, false},
		{"   ", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1a", 0, false},
		{"000000000000000000001", 0, false}, // more than 20 digits
	} {
		got, err := parseCounter([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseCounter(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
