package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEventLoopsServeConnectionsWithoutAGoroutineEach opens many
// connections that each ran a command and checks that they hold no
// goroutine: the loops serve them.
func TestEventLoopsServeConnectionsWithoutAGoroutineEach(t *testing.T) {
	for _, loops := range []int{2, -1} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			s, addr := startServer(t, Config{EventLoops: loops})
			before := runtime.NumGoroutine()
			const n = 200
			for i := range n {
				c := dial(t, addr)
				if got := c.do(fmt.Sprintf("set k%d 0 0 1\r\nv\r\nget k%d\r\n", i, i)); got != fmt.Sprintf("STORED\r\nVALUE k%d 0 1\r\nv\r\nEND\r\n", i) {
					t.Fatalf("connection %d: %q", i, got)
				}
			}
			waitFor(t, func() bool { return s.stats.currConns.Load() == n })
			grew := runtime.NumGoroutine() - before
			if loops > 0 && grew >= n/4 {
				t.Errorf("%d idle connections in %d loops hold %d goroutines", n, loops, grew)
			}
			if loops < 0 && grew < n {
				t.Errorf("without loops %d connections hold %d goroutines; want one each", n, grew)
			}
		})
	}
}

// TestEventLoopSlowReaderStallsNoOne fills one client's socket with
// replies it does not read: the loop it shares with another client must go
// on serving that client, and the slow one must get every reply once it
// reads, then be served by the loop again.
func TestEventLoopSlowReaderStallsNoOne(t *testing.T) {
	s, addr := startServer(t, Config{EventLoops: 1})
	big := strings.Repeat("b", 500_000)
	setup := dial(t, addr)
	if got := setup.do("set big 0 0 " + fmt.Sprint(len(big)) + "\r\n" + big + "\r\nset small 0 0 1\r\ns\r\n"); got != "STORED\r\nSTORED\r\n" {
		t.Fatalf("setup: %q", got)
	}
	slow, other := dial(t, addr), dial(t, addr)
	other.do("") // both registered in the one loop
	slow.do("")
	waitBefore := s.handoffs[handoffWait].Load()

	const gets = 40 // 20 MB of replies: far more than the socket buffers hold
	slow.send(strings.Repeat("get big\r\n", gets))
	waitFor(t, func() bool { return s.handoffs[handoffWait].Load() > waitBefore })
	for i := range 200 {
		if got := other.do("get small\r\n"); got != "VALUE small 0 1\r\ns\r\nEND\r\n" {
			t.Fatalf("other client, get %d: %q", i, got)
		}
	}

	want := "VALUE big 0 500000\r\n" + big + "\r\nEND\r\n"
	got := slow.readAtLeast(gets * len(want))
	if got != strings.Repeat(want, gets) {
		t.Fatalf("slow reader got %d bytes, want %d identical replies", len(got), gets)
	}
	readBefore := s.handoffs[handoffRead].Load() + s.handoffs[handoffWait].Load()
	for range 3 {
		if got := slow.do("get small\r\n"); got != "VALUE small 0 1\r\ns\r\nEND\r\n" {
			t.Fatalf("slow client afterwards: %q", got)
		}
	}
	if n := s.handoffs[handoffRead].Load() + s.handoffs[handoffWait].Load(); n != readBefore {
		t.Errorf("small gets after the slow reader caught up left the loop %d times", n-readBefore)
	}
}

// TestEventLoopValueInPiecesAndLargeValues sends commands the loop cannot
// run from its buffer (a value split over two writes, a value larger than
// the read buffer): a goroutine serves them, and the connection returns to
// the loop afterwards.
func TestEventLoopValueInPiecesAndLargeValues(t *testing.T) {
	s, addr := startServer(t, Config{EventLoops: 1})
	c := dial(t, addr)
	c.do("")
	before := s.handoffs[handoffRead].Load()

	c.send("set k 0 0 10\r\nhello")
	// The first part has reached the server when its reply to a second
	// connection's command, sent after it, has come back: the loop has
	// seen the half command by then, or will see the rest with it.
	other := dial(t, addr)
	other.do("")
	c.send("world\r\n")
	if got := c.readUntil("STORED\r\n"); got != "STORED\r\n" {
		t.Fatalf("split value: %q", got)
	}
	large := strings.Repeat("L", 3*readBufferSize)
	if got := c.do("set large 0 0 " + fmt.Sprint(len(large)) + "\r\n" + large + "\r\nget k\r\n"); got != "STORED\r\nVALUE k 0 10\r\nhelloworld\r\nEND\r\n" {
		t.Fatalf("large value: %q", got)
	}
	if s.handoffs[handoffRead].Load() == before {
		t.Error("a value larger than the read buffer did not go to a goroutine")
	}
	after := s.handoffs[handoffRead].Load()
	for range 5 {
		if got := c.do("get k\r\n"); got != "VALUE k 0 10\r\nhelloworld\r\nEND\r\n" {
			t.Fatalf("afterwards: %q", got)
		}
	}
	if n := s.handoffs[handoffRead].Load(); n != after {
		t.Errorf("small commands after the large value left the loop %d times: it did not return to the loop", n-after)
	}
}

// TestEventLoopIdleAndShutdown checks that connections idle in a loop are
// closed by the idle timeout and by Shutdown, which returns once they are.
func TestEventLoopIdleAndShutdown(t *testing.T) {
	s, addr := startServer(t, Config{EventLoops: 1, IdleTimeout: time.Second})
	idle := dial(t, addr)
	idle.do("")
	if _, ok := idle.closed(); !ok {
		t.Fatal("a connection idle in a loop was not closed by the idle timeout")
	}
	if s.stats.v[stIdleKicks].Load() == 0 {
		t.Error("idle kick not counted")
	}
	busy := dial(t, addr)
	busy.do("")
	done := returnsInTime(t, "Shutdown", func() error { return s.Shutdown(t.Context()) })
	if _, ok := busy.closed(); !ok {
		t.Fatal("Shutdown did not close a connection idle in a loop")
	}
	done()
}

// returnsInTime runs fn on a goroutine; the function it returns waits
// for fn and fails the test if fn fails or has not returned within
// ioDeadline.
func returnsInTime(t *testing.T, what string, fn func() error) (wait func()) {
	result := make(chan error, 1)
	go func() { result <- fn() }()
	return func() {
		t.Helper()
		select {
		case err := <-result:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(ioDeadline):
			t.Fatalf("%s did not return", what)
		}
	}
}

// TestEventLoopPipelineLongerThanAStep sends in one write more commands
// than a loop runs for a connection at a time: the rest waits in the read
// buffer, where no readiness event announces it, and must still be served.
func TestEventLoopPipelineLongerThanAStep(t *testing.T) {
	_, addr := startServer(t, Config{EventLoops: 1})
	c := dial(t, addr)
	const n = 10*loopStepCommands + 7
	got := c.do(strings.Repeat("mg missing\r\n", n))
	if want := strings.Repeat("EN\r\n", n); got != want {
		t.Fatalf("got %d bytes of replies, want %d", len(got), len(want))
	}
}

// bufferRaw is a rawConnIO over a fixed input, for stepping a connection
// by hand.
type bufferRaw struct {
	in    *strings.Reader
	out   strings.Builder
	empty bool
}

func (b *bufferRaw) Read(p []byte) (int, error) {
	n, _ := b.in.Read(p)
	b.empty = n < len(p)
	if n == 0 {
		return 0, errWouldBlock
	}
	return n, nil
}
func (b *bufferRaw) Write(p []byte) (int, error) { return b.out.Write(p) }
func (b *bufferRaw) serve(func() bool) error     { return nil }
func (b *bufferRaw) drained() bool               { return b.empty }

// TestStepStopsAtItsLimit steps a connection with 100 commands buffered
// and a limit of 32: each step runs 32, writes their replies and says it
// yielded, so that a loop serves the others before the rest.
func TestStepStopsAtItsLimit(t *testing.T) {
	s, err := New(Config{EventLoops: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	raw := &bufferRaw{in: strings.NewReader(strings.Repeat("mn\r\n", 100))}
	c := newConn(s, &memConn{in: strings.NewReader("")})
	c.rw, c.raw = raw, raw
	c.r = bufio.NewReaderSize(readCounter{c}, readBufferSize)
	for i, want := range []int{32, 64, 96} {
		c.stepLimit, c.yielded = 32, false
		if c.step() || !c.yielded {
			t.Fatalf("step %d: ended or did not yield", i)
		}
		if got := strings.Count(raw.out.String(), "MN\r\n"); got != want {
			t.Fatalf("after step %d: %d replies written, want %d", i, got, want)
		}
	}
	c.stepLimit, c.yielded = 32, false
	if c.step() || c.yielded {
		t.Fatal("last step: ended, or yielded with 4 commands left")
	}
	if got := strings.Count(raw.out.String(), "MN\r\n"); got != 100 {
		t.Fatalf("%d replies in all, want 100", got)
	}
}

// TestEventLoopsUnderChurnThenClose runs clients that mix every kind of
// command a loop hands off (large values, values in pieces, metadumps,
// long pipelines, clients that stop reading or vanish) with plain ones,
// checks every reply of the well-behaved ones, then closes the server with
// connections in every state: Close must return and every connection end.
func TestEventLoopsUnderChurnThenClose(t *testing.T) {
	s, addr, served := serveOwn(t, Config{EventLoops: 2, ValueTimeout: 2 * time.Second})
	big := strings.Repeat("x", 3*readBufferSize)

	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			c := dialQuiet(addr)
			if c == nil {
				return
			}
			defer c.nc.Close()
			for i := range 40 {
				key := fmt.Sprintf("w%d-%d", w, i%5)
				var send, want string
				switch (w + i) % 6 {
				case 0:
					send, want = "set "+key+" 0 0 3\r\nabc\r\nget "+key+"\r\n", "STORED\r\nVALUE "+key+" 0 3\r\nabc\r\nEND\r\n"
				case 1:
					send = "set " + key + " 0 0 " + fmt.Sprint(len(big)) + "\r\n" + big + "\r\nget " + key + "\r\n"
					want = "STORED\r\nVALUE " + key + " 0 " + fmt.Sprint(len(big)) + "\r\n" + big + "\r\nEND\r\n"
				case 2:
					send, want = strings.Repeat("mn\r\n", 3*loopStepCommands), strings.Repeat("MN\r\n", 3*loopStepCommands)
				case 3:
					send, want = "lru_crawler metadump hash\r\n", ""
				case 4: // a value in two pieces
					if _, err := c.nc.Write([]byte("set " + key + " 0 0 4\r\nab")); err != nil {
						return
					}
					send, want = "cd\r\n", "STORED\r\n"
				default:
					send, want = "delete "+key+"\r\n", ""
				}
				got, ok := c.roundTrip(send)
				if !ok {
					t.Errorf("worker %d, command %d: no reply", w, i)
					return
				}
				if want != "" && got != want {
					t.Errorf("worker %d, command %d: %d bytes %.60q, want %.60q", w, i, len(got), got, want)
					return
				}
			}
		})
	}
	for range 6 { // clients that ask for a lot and stop reading, or vanish
		wg.Go(func() {
			c := dialQuiet(addr)
			if c == nil {
				return
			}
			_, _ = c.nc.Write([]byte("set big 0 0 " + fmt.Sprint(len(big)) + "\r\n" + big + "\r\n" + strings.Repeat("get big\r\n", 200)))
		})
	}
	wg.Wait()
	stalled := dialQuiet(addr) // one more that never reads, left open
	if stalled != nil {
		_, _ = stalled.nc.Write([]byte(strings.Repeat("get big\r\n", 400)))
		defer stalled.nc.Close()
	}
	returnsInTime(t, "Close", s.Close)()
	if n := s.stats.currConns.Load(); n != 0 {
		t.Errorf("%d connections still counted after Close", n)
	}
	if s.handoffs[handoffRead].Load() == 0 || s.handoffs[handoffWait].Load() == 0 {
		t.Errorf("handoffs read %d, wait %d: the churn did not exercise both", s.handoffs[handoffRead].Load(), s.handoffs[handoffWait].Load())
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// dialQuiet dials without a testing.T, for use from worker goroutines.
func dialQuiet(addr string) *client {
	nc, err := net.DialTimeout("tcp", addr, ioDeadline)
	if err != nil {
		return nil
	}
	return &client{nc: nc, r: bufio.NewReader(nc)}
}

// roundTrip sends cmds and a version command, and returns the replies
// before its answer.
func (c *client) roundTrip(cmds string) (string, bool) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioDeadline))
	if _, err := c.nc.Write([]byte(cmds + "version\r\n")); err != nil {
		return "", false
	}
	end := "VERSION " + Version + "\r\n"
	got, err := c.readSuffix(end)
	return strings.TrimSuffix(got, end), err == nil
}

// TestEventLoopRequestsDoNotAllocate counts the heap allocations of the
// whole process over 2,000 round trips on a connection a loop serves: a
// request must not allocate (each allocation is garbage to collect).
func TestEventLoopRequestsDoNotAllocate(t *testing.T) {
	_, addr := startServer(t, Config{EventLoops: 1})
	c := dial(t, addr)
	c.do("set k 0 0 5\r\nhello\r\n")
	req := []byte("mg k v\r\n")
	want := "VA 5\r\nhello\r\n"
	buf := make([]byte, len(want))
	_ = c.nc.SetDeadline(time.Now().Add(ioDeadline))
	roundTrips := func(n int) {
		for range n {
			if _, err := c.nc.Write(req); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c.r, buf); err != nil || string(buf) != want {
				t.Fatalf("reply %q: %v", buf, err)
			}
		}
	}
	roundTrips(100) // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 2000
	roundTrips(n)
	runtime.ReadMemStats(&after)
	if allocs := after.Mallocs - before.Mallocs; allocs > n/10 {
		t.Errorf("%d allocations in %d round trips", allocs, n)
	}
}

// TestIdleLoopConnectionsHoldNoBuffers opens connections that each ran a
// command and measures the heap they hold once idle: in a loop they give
// their read and output buffers back (eventLoop.takeBack), so that each
// holds a few kilobytes; on goroutines each keeps its 16 KiB read buffer.
func TestIdleLoopConnectionsHoldNoBuffers(t *testing.T) {
	for _, loops := range []int{1, -1} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			s, addr := startServer(t, Config{EventLoops: loops})
			heap := func() uint64 {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				return m.HeapAlloc
			}
			before := heap()
			const n = 500
			conns := make([]net.Conn, 0, n)
			defer func() {
				for _, nc := range conns {
					nc.Close()
				}
			}()
			want := "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n"
			reply := make([]byte, len(want))
			for range n {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, nc)
				_ = nc.SetDeadline(time.Now().Add(ioDeadline))
				if _, err := nc.Write([]byte("set k 0 0 1\r\nv\r\nget k\r\n")); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(nc, reply); err != nil || string(reply) != want {
					t.Fatalf("reply %q: %v", reply, err)
				}
			}
			waitFor(t, func() bool { return s.stats.currConns.Load() == n })
			perConn := (int64(heap()) - int64(before)) / n
			t.Logf("loops=%d: %d idle connections hold %d bytes of heap each (server and client side)", loops, n, perConn)
			if loops > 0 && perConn > 8<<10 {
				t.Errorf("an idle connection in a loop holds %d bytes; want under 8 KiB (no buffers)", perConn)
			}
			if loops < 0 && perConn < readBufferSize {
				t.Errorf("an idle connection on its goroutine holds %d bytes; want its %d-byte read buffer at least", perConn, readBufferSize)
			}
		})
	}
}

// A runner busy for longer than loopWatchEvery wakes the scheduler once
// for a sibling loop whose runner waits in Go's poller with an event
// pending, and not otherwise: not for a sibling that runs, nor one with
// nothing pending, nor before loopWatchEvery has passed.
func TestBusyRunnerWakesSchedulerForWaitingSibling(t *testing.T) {
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ls := &eventLoops{}
	woken := 0
	ls.wakeScheduler = func() { woken++ }
	for range 2 {
		l, err := newEventLoop(s)
		if err != nil {
			t.Fatal(err)
		}
		defer l.ep.Close()
		defer unix.Close(l.wake)
		l.ls = ls
		ls.loops = append(ls.loops, l)
	}
	busy, sibling := ls.loops[0], ls.loops[1]
	r := &runner{l: busy}
	watch := func(busyFor time.Duration) int {
		woken = 0
		r.watched = time.Now().Add(-busyFor)
		r.watchSiblings()
		return woken
	}
	if n := watch(time.Second); n != 0 {
		t.Fatalf("sibling waiting with nothing pending: woke the scheduler %d times, want 0", n)
	}
	sibling.mu.Lock()
	sibling.signalLocked() // an event pending in the sibling's epoll instance
	sibling.mu.Unlock()
	if n := watch(time.Second); n != 0 {
		t.Fatalf("sibling running: woke the scheduler %d times, want 0", n)
	}
	sibling.parked.Store(true)
	if n := watch(loopWatchEvery / 4); n != 0 {
		t.Fatalf("busy for less than loopWatchEvery: woke the scheduler %d times, want 0", n)
	}
	if n := watch(2 * loopWatchEvery); n != 1 {
		t.Fatalf("sibling waiting with an event pending: woke the scheduler %d times, want 1", n)
	}
	if since := time.Since(r.watched); since > loopWatchEvery {
		t.Fatalf("the runner's watch clock was not restarted (%v ago)", since)
	}
}

// TestLoopReusesBuffersOfEndedConnections opens and closes connections one
// after the other, each running a set and a get: a loop lends a new
// connection the buffers of the ones that ended, so a connection costs a
// few kilobytes of allocation, not a 16 KiB read buffer and a 4 KiB output
// buffer of its own (28 KB per connection, server and client side, when
// each connection made its buffers at accept and they were dropped when it
// ended).
func TestLoopReusesBuffersOfEndedConnections(t *testing.T) {
	_, addr := startServer(t, Config{EventLoops: 2})
	roundTrip := func() {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write([]byte("set k 0 0 1\r\nv\r\nget k\r\n")); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(nc)
		for _, want := range []string{"STORED\r\n", "VALUE k 0 1\r\n", "v\r\n", "END\r\n"} {
			if line, err := r.ReadString('\n'); line != want {
				t.Fatalf("got %q (%v), want %q", line, err, want)
			}
		}
	}
	for range 50 { // the loops' idle buffers fill
		roundTrip()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 500
	for range n {
		roundTrip()
	}
	runtime.ReadMemStats(&after)
	perConn := float64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("%.0f bytes allocated per connection, server and client side", perConn)
	if perConn > 16<<10 {
		t.Fatalf("%.0f bytes allocated per connection, want under 16 KiB: the loops do not reuse the buffers of ended connections", perConn)
	}
}
