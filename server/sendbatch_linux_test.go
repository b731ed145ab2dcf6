package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needURing returns a ring, or skips the test where the kernel has no
// io_uring; in CI, whose machines have it, it fails instead.
func needURing(t *testing.T) *uring {
	t.Helper()
	u, err := newUring(8)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("io_uring: %v", err)
		}
		t.Skipf("io_uring: %v", err)
	}
	t.Cleanup(u.close)
	return u
}

// TestUringSendAllReportsEachSend sends to two sockets in one call, one of
// them with more than its buffer holds: each result is that socket's, the
// bytes arrive, and a full socket reports EAGAIN rather than waiting.
func TestUringSendAllReportsEachSend(t *testing.T) {
	u := needURing(t)
	pair := func() (int, int) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		return fds[0], fds[1]
	}
	a, aPeer := pair()
	b, _ := pair()
	if err := unix.SetsockoptInt(b, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	small, big := []byte("VALUE k 0 1\r\nv\r\nEND\r\n"), make([]byte, 4<<20)
	res := make([]int32, 2)
	if err := u.sendAll([]int32{int32(a), int32(b)}, [][]byte{small, big}, res); err != nil {
		t.Fatal(err)
	}
	if res[0] != int32(len(small)) {
		t.Errorf("small send: %d, want %d", res[0], len(small))
	}
	if res[1] <= 0 || res[1] >= int32(len(big)) {
		t.Errorf("send larger than the socket buffer: %d, want a short count", res[1])
	}
	got := make([]byte, 100)
	if n, err := unix.Read(aPeer, got); err != nil || string(got[:n]) != string(small) {
		t.Errorf("peer read %q, %v", got[:n], err)
	}
	if err := u.sendAll([]int32{int32(b)}, [][]byte{big}, res[:1]); err != nil {
		t.Fatal(err)
	}
	if res[0] != -int32(syscall.EAGAIN) {
		t.Errorf("send to a full socket: %d, want -EAGAIN", res[0])
	}
}

// TestUringRecvAllReportsEachReceive receives from three sockets in one
// call: one with data, one at the end of its stream and one empty, which
// must report EAGAIN rather than wait.
func TestUringRecvAllReportsEachReceive(t *testing.T) {
	u := needURing(t)
	var fds [3][2]int
	for i := range fds {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds[i] = [2]int{p[0], p[1]}
		t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	}
	if _, err := unix.Write(fds[0][1], []byte("get k\r\n")); err != nil {
		t.Fatal(err)
	}
	unix.Close(fds[1][1])
	bufs := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64)}
	res := make([]int32, 3)
	if err := u.recvAll([]int32{int32(fds[0][0]), int32(fds[1][0]), int32(fds[2][0])}, bufs, res); err != nil {
		t.Fatal(err)
	}
	if res[0] != 7 || string(bufs[0][:7]) != "get k\r\n" {
		t.Errorf("socket with data: %d %q", res[0], bufs[0][:max(res[0], 0)])
	}
	if res[1] != 0 {
		t.Errorf("socket at its end: %d, want 0", res[1])
	}
	if res[2] != -int32(syscall.EAGAIN) {
		t.Errorf("empty socket: %d, want -EAGAIN", res[2])
	}
}

// TestEventLoopBatchedRepliesKeepOrderForASlowReader pipelines thousands
// of gets of distinct values on a connection that does not read, so that
// batched sends find its socket buffer full: every reply must still arrive
// once, in order, while another client of the same loop is served; and
// the connection must come back to the loop. With io_uring the test also
// requires that sends were cut short, so that the path that keeps their
// rest ran.
func TestEventLoopBatchedRepliesKeepOrderForASlowReader(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableIOURing=%v", disable), func(t *testing.T) {
			if !disable {
				needURing(t)
			}
			s, addr := startServer(t, Config{EventLoops: 1, DisableIOURing: disable})
			if got := s.loops.loops[0].batch != nil; got == disable {
				t.Fatalf("loop batches: %v with DisableIOURing %v", got, disable)
			}
			// Small replies, all batched; a client receive buffer of 64 KiB,
			// so that the server's socket buffer (at most 4 MiB on Linux)
			// fills at a batched send.
			const keys, gets = 50, 60_000
			setup := dial(t, addr)
			var want strings.Builder
			vals := make([]string, keys)
			for k := range keys {
				vals[k] = strings.Repeat(fmt.Sprintf("%03d", k), 33)
				if got := setup.do(fmt.Sprintf("set k%d 0 0 %d\r\n%s\r\n", k, len(vals[k]), vals[k])); got != "STORED\r\n" {
					t.Fatalf("set: %q", got)
				}
			}
			var req strings.Builder
			for i := range gets {
				k := i * 7 % keys
				fmt.Fprintf(&req, "get k%d\r\n", k)
				fmt.Fprintf(&want, "VALUE k%d 0 %d\r\n%s\r\nEND\r\n", k, len(vals[k]), vals[k])
			}
			other := dial(t, addr)
			other.do("")
			// Which write first finds the socket full depends on timing (a
			// connection may also have moved to a goroutine to read a
			// command cut by a read): try a few connections until one
			// batched send was cut short.
			shortBefore := s.shortSends.Load()
			var slow *client
			for attempt := 0; attempt < 5 && (attempt == 0 || !disable && s.shortSends.Load() == shortBefore); attempt++ {
				slow = dialRcvbuf(t, addr, 64<<10)
				slow.do("")
				waitBefore, readBefore := s.handoffs[handoffWait].Load(), s.handoffs[handoffRead].Load()
				sent := make(chan error, 1)
				go func() { // the server stops reading while the client does not read
					_, err := io.WriteString(slow.nc, req.String())
					sent <- err
				}()
				waitFor(t, func() bool {
					return s.handoffs[handoffWait].Load() > waitBefore || s.handoffs[handoffRead].Load() > readBefore
				})
				for i := range 100 {
					if got := other.do("get k1\r\n"); got != "VALUE k1 0 99\r\n"+vals[1]+"\r\nEND\r\n" {
						t.Fatalf("other client, get %d: %q", i, got)
					}
				}
				got := slow.readAtLeast(want.Len())
				if got != want.String() {
					i := 0
					for i < len(got) && i < want.Len() && got[i] == want.String()[i] {
						i++
					}
					t.Fatalf("slow reader got %d bytes, want %d; first difference at byte %d", len(got), want.Len(), i)
				}
				if err := <-sent; err != nil {
					t.Fatalf("sending the gets: %v", err)
				}
			}
			if n := s.shortSends.Load() - shortBefore; !disable && n == 0 {
				t.Errorf("no batched send was cut short in 5 tries: the test did not fill the socket at a batched send")
			}
			handoffs := s.handoffs[handoffRead].Load() + s.handoffs[handoffWait].Load()
			for range 3 {
				if got := slow.do("get k2\r\n"); got != "VALUE k2 0 99\r\n"+vals[2]+"\r\nEND\r\n" {
					t.Fatalf("slow client afterwards: %q", got)
				}
			}
			if n := s.handoffs[handoffRead].Load() + s.handoffs[handoffWait].Load(); n != handoffs {
				t.Errorf("small gets after the slow reader caught up left the loop %d times", n-handoffs)
			}
		})
	}
}

// dialRcvbuf dials addr with a receive buffer of size bytes.
func dialRcvbuf(t *testing.T, addr string, size int) *client {
	t.Helper()
	d := net.Dialer{Timeout: ioDeadline, Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size) }); cerr != nil {
			return cerr
		}
		return err
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(ioDeadline))
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// TestEventLoopStepsConnectionsItReceivedForWhenItsRunnerLeaves runs
// metadumps, each of which hands the loop to a new runner in the middle of
// a pass, beside clients doing gets on the same loop. The pass received
// for every readable connection at its start; those it did not step must
// be stepped by the next runner, or their clients would wait for ever.
func TestEventLoopStepsConnectionsItReceivedForWhenItsRunnerLeaves(t *testing.T) {
	needURing(t)
	s, addr := startServer(t, Config{EventLoops: 1})
	setup := dial(t, addr)
	for k := range 20 {
		if got := setup.do(fmt.Sprintf("set k%d 0 0 2\r\nv%d\r\n", k, k%10)); got != "STORED\r\n" {
			t.Fatalf("set: %q", got)
		}
	}
	stop := make(chan struct{})
	errs := make(chan error, 17)
	for w := range 16 {
		c := dial(t, addr)
		repeatUntil(stop, errs, func(i int) error {
			k := (w + i) % 20
			if _, err := fmt.Fprintf(c.nc, "get k%d\r\n", k); err != nil {
				return err
			}
			want := fmt.Sprintf("VALUE k%d 0 2\r\nv%d\r\nEND\r\n", k, k%10)
			if got, err := c.readSuffix("END\r\n"); err != nil || got != want {
				return fmt.Errorf("client %d get %d: %q, %v", w, i, got, err)
			}
			return nil
		})
	}
	dumper := dial(t, addr)
	repeatUntil(stop, errs, func(int) error {
		if _, err := dumper.nc.Write([]byte("lru_crawler metadump all\r\n")); err != nil {
			return err
		}
		if got, err := dumper.readSuffix("END\r\n"); err != nil || strings.Count(got, "key=") != 20 {
			return fmt.Errorf("metadump: %d keys, %v", strings.Count(got, "key="), err)
		}
		return nil
	})
	deadline := time.Now().Add(ioDeadline)
	for s.restaged.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	for range 17 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s.restaged.Load() == 0 {
		t.Fatalf("no pass left a connection it received for unstepped within %v: the test did not reach that path", ioDeadline)
	}
}

// TestEventLoopYieldsOnlyAfterPassesOverSeveralConnections checks when a
// loop yields its thread: never for a lone client, whose passes serve one
// connection each, and under many concurrent clients, whose passes serve
// several.
func TestEventLoopYieldsOnlyAfterPassesOverSeveralConnections(t *testing.T) {
	s, addr := startServer(t, Config{EventLoops: 1})
	lone := dial(t, addr)
	for i := range 200 {
		if got := lone.do("mn\r\n"); got != "MN\r\n" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	if n := s.loopYields.Load(); n != 0 {
		t.Fatalf("a lone client's requests made the loop yield %d times", n)
	}
	stop := make(chan struct{})
	errs := make(chan error, 20)
	for range 20 {
		c := dial(t, addr)
		repeatUntil(stop, errs, func(int) error {
			if _, err := c.nc.Write([]byte("mn\r\n")); err != nil {
				return err
			}
			if got, err := c.readSuffix("MN\r\n"); err != nil || got != "MN\r\n" {
				return fmt.Errorf("%q, %v", got, err)
			}
			return nil
		})
	}
	waitFor(t, func() bool { return s.loopYields.Load() > 0 })
	close(stop)
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// repeatUntil runs round(0), round(1), … on a goroutine until stop is
// closed or a round fails, then sends nil or the error to errs.
func repeatUntil(stop <-chan struct{}, errs chan<- error, round func(i int) error) {
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			if err := round(i); err != nil {
				errs <- err
				return
			}
		}
	}()
}
