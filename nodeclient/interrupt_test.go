package nodeclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// interruptBound is how soon after its context ends a request must return:
// well under the tests' pool timeout (longTimeout), and generous for -race
// on a loaded machine.
const (
	interruptBound = 2 * time.Second
	longTimeout    = 30 * time.Second
)

// endsAfter runs op with a context that ends while op runs and returns op's
// error and how long op took past the context's end. By cancel, the context
// is cancelled once at least 50 ms have passed and ready holds. By
// deadline, it ends 500 ms after the start, and the time past it counts
// from when ready first held if that was later (so that the CPU time of
// encoding a large request on a loaded machine does not count). ready may
// be nil; it is called from the test's goroutine only.
func endsAfter(t *testing.T, byDeadline bool, ready func() bool, op func(ctx context.Context) error) (time.Duration, error) {
	t.Helper()
	const after = 500 * time.Millisecond
	var ctx context.Context
	var cancel context.CancelFunc
	if byDeadline {
		ctx, cancel = context.WithTimeout(testCtx(t), after)
	} else {
		ctx, cancel = context.WithCancel(testCtx(t))
	}
	defer cancel()
	type result struct {
		err error
		at  time.Time
	}
	res := make(chan result, 1)
	start := time.Now()
	go func() {
		err := op(ctx)
		res <- result{err, time.Now()}
	}()
	if !byDeadline {
		eventually(t, "the request to be under way", func() bool {
			return time.Since(start) >= 50*time.Millisecond && (ready == nil || ready())
		})
		cancelled := time.Now()
		cancel()
		r := <-res
		return r.at.Sub(cancelled), r.err
	}
	ended := start.Add(after)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var readyAt time.Time
	for {
		select {
		case r := <-res:
			return r.at.Sub(ended), r.err
		case <-tick.C:
		}
		if readyAt.IsZero() && ready != nil && ready() {
			if readyAt = time.Now(); readyAt.After(ended) {
				ended = readyAt
			}
		}
	}
}

func ctxEnd(byDeadline bool) error {
	if byDeadline {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// TestInterruptWriteToFrozenNode: a Set of a value larger than the socket
// buffers to a frozen (SIGSTOP) node blocks in the caller's own write; when
// the caller's context ends, by cancel or deadline, the Set returns at once
// (not after the 30 s pool timeout), the half-written connection is closed
// without counting against the node, and the pool works once the node is
// thawed.
func TestInterruptWriteToFrozenNode(t *testing.T) {
	for _, srv := range []struct {
		name string
		server
	}{{"memcached", memcachedServer}, {"zonecached", zonecachedServer}} {
		for _, byDeadline := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/deadline=%v", srv.name, byDeadline), func(t *testing.T) {
				testInterruptWrite(t, srv.server, byDeadline)
			})
		}
	}
}

func testInterruptWrite(t *testing.T, srv server, byDeadline bool) {
	proc := srv.start(t)
	const size = 16 << 20 // far beyond loopback socket buffers (4 MiB at most)
	n := newTestNode(t, proc.Addr, Config{
		Online:       PoolConfig{Conns: 1, Timeout: longTimeout},
		MaxValueSize: size,
	})
	ctx := testCtx(t)
	if err := n.Online().Noop(ctx); err != nil {
		t.Fatal(err)
	}
	thaw := freeze(t, proc)

	big := make([]byte, size)
	writes := n.Stats().Writes
	// Cancel once the caller has started its own write.
	started := func() bool { return n.Stats().Writes > writes }
	late, err := endsAfter(t, byDeadline, started, func(ctx context.Context) error {
		return n.Online().Set(ctx, Item{Key: "big", Value: big})
	})
	if !errors.Is(err, ctxEnd(byDeadline)) {
		t.Fatalf("Set to a frozen node: %v, want %v", err, ctxEnd(byDeadline))
	}
	if late > interruptBound {
		t.Fatalf("Set returned %v after its context ended (pool timeout %v)", late, longTimeout)
	}
	if w := n.Stats().Writes - writes; w != 1 {
		t.Fatalf("%d writes, want the caller's own 1", w)
	}
	if n.State() != StateClosed {
		t.Fatal("an interrupted write opened the breaker")
	}

	thaw()
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("after")}); err != nil {
		t.Fatalf("Set after thaw: %v", err)
	}
	if it, err := n.Online().Get(ctx, "k"); err != nil || string(it.Value) != "after" {
		t.Fatalf("Get after thaw: %+v %v", it, err)
	}
	if d := n.Stats().Dials; d != 2 {
		t.Fatalf("%d dials, want 2: the half-written connection replaced once", d)
	}
}

// TestInterruptMidReply: a caller reading its own reply, a value of
// several megabytes that stops arriving part-way (a proxy holds the rest),
// returns at once when its context ends, by cancel or deadline, not after
// the pool timeout. The connection, out of step, is replaced, and the next
// Get reads the whole value.
func TestInterruptMidReply(t *testing.T) {
	for _, byDeadline := range []bool{false, true} {
		t.Run(fmt.Sprintf("deadline=%v", byDeadline), func(t *testing.T) {
			mc := testproc.StartMemcached(t, "-m", "64", "-I", "8m")
			px := startProxy(t, mc.Addr)
			n := newTestNode(t, px.addr(), Config{
				Online:       PoolConfig{Conns: 1, Timeout: longTimeout},
				MaxValueSize: 8 << 20,
			})
			ctx := testCtx(t)
			val := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
			if err := n.Online().Set(ctx, Item{Key: "big", Value: val}); err != nil {
				t.Fatal(err)
			}

			px.holdAfter(256 << 10)
			cn := n.Online().slots[0].cur.Load()
			// Cancel once the caller is inside the reply: the proxy holds
			// the rest, and what it passed on has left the socket buffers.
			inside := func() bool { return px.isHeld() && socketsDrained(t, cn.nc) }
			if byDeadline {
				inside = nil // the deadline may close the connection
			}
			late, err := endsAfter(t, byDeadline, inside, func(ctx context.Context) error {
				_, err := n.Online().Get(ctx, "big")
				return err
			})
			if !errors.Is(err, ctxEnd(byDeadline)) {
				t.Fatalf("Get of a held value: %v, want %v", err, ctxEnd(byDeadline))
			}
			if late > interruptBound {
				t.Fatalf("Get returned %v after its context ended (pool timeout %v)", late, longTimeout)
			}
			// A deadline may, on a loaded machine, end the Get before it
			// reached the reply; a cancel comes inside it.
			if !byDeadline && !cn.isClosed() {
				t.Fatal("the connection cut off mid-reply was kept")
			}
			if n.State() != StateClosed {
				t.Fatal("an interrupted reply opened the breaker")
			}

			px.release()
			it, err := n.Online().Get(ctx, "big")
			if err != nil || !bytes.Equal(it.Value, val) {
				t.Fatalf("Get after release: %d bytes, %v", len(it.Value), err)
			}
			if d := n.Stats().Dials; !byDeadline && d != 2 {
				t.Fatalf("%d dials, want 2", d)
			}
		})
	}
}

// socketsDrained reports whether both ends of the loopback connection nc
// (this process's end and the peer's) have no bytes queued: everything
// sent to nc has been read by its owner. Only established sockets count
// (an earlier connection on the same ports may linger in TIME_WAIT), and
// an end listed twice counts once (the kernel's listing is not a
// snapshot): a CI run once found three lines for the two ends.
func socketsDrained(t *testing.T, nc net.Conn) bool {
	t.Helper()
	local, remote := nc.LocalAddr().(*net.TCPAddr), nc.RemoteAddr().(*net.TCPAddr)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const established = "01"
	var ours, peers bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local rem st tx_queue:rx_queue ...; addresses in hex.
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || fs[3] != established {
			continue
		}
		l, r := hexPort(fs[1]), hexPort(fs[2])
		q := strings.SplitN(fs[4], ":", 2)
		if len(q) != 2 {
			continue
		}
		tx, _ := strconv.ParseUint(q[0], 16, 64)
		rx, _ := strconv.ParseUint(q[1], 16, 64)
		switch {
		case l == local.Port && r == remote.Port:
			ours = true
			if rx != 0 {
				return false
			}
		case l == remote.Port && r == local.Port:
			peers = true
			if tx != 0 {
				return false
			}
		}
	}
	if !ours || !peers {
		t.Fatalf("%v-%v: this end listed %v, the peer's %v in /proc/net/tcp; want both, established", local, remote, ours, peers)
	}
	return true
}

// hexPort returns the port of a /proc/net/tcp address (HEXIP:HEXPORT).
func hexPort(a string) int {
	i := strings.LastIndexByte(a, ':')
	p, _ := strconv.ParseUint(a[i+1:], 16, 16)
	return int(p)
}

// TestIOCauseKeepsOthersContextsOut: the cause a connection is closed with
// after a caller's context ended mid-transfer is what the other requests on
// it fail with, so it must not match the context's error (their contexts
// did not end), while it still marks the interrupt and keeps the I/O error.
func TestIOCauseKeepsOthersContextsOut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ioCause(ctx, "read", io.ErrUnexpectedEOF)
	if errors.Is(err, context.Canceled) {
		t.Errorf("%v matches context.Canceled", err)
	}
	if !errors.Is(err, errInterrupted) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("%v: want errInterrupted and io.ErrUnexpectedEOF in its chain", err)
	}
	if err := ioCause(context.Background(), "read", io.ErrUnexpectedEOF); errors.Is(err, errInterrupted) {
		t.Errorf("%v: an I/O failure without an ended context counts as an interrupt", err)
	}
}
