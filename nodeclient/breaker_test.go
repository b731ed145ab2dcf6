package nodeclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// server is a kind of node the tests start and restart.
type server struct {
	start func(t *testing.T) *testproc.Process
	// restart starts the server again on the host and port of a killed one.
	restart func(t *testing.T, old *testproc.Process)
}

var (
	memcachedServer = server{
		start: func(t *testing.T) *testproc.Process { return startMemcached(t) },
		restart: func(t *testing.T, old *testproc.Process) {
			args := []string{"-l", old.Host, "-p", strconv.Itoa(old.Port), "-U", "0", "-m", "64"}
			if os.Geteuid() == 0 {
				args = append(args, "-u", "root")
			}
			startOn(t, testproc.RequireMemcached(t), args)
		},
	}
	zonecachedServer = server{
		start: func(t *testing.T) *testproc.Process { return startZonecached(t) },
		restart: func(t *testing.T, old *testproc.Process) {
			startOn(t, testproc.ZonecachedBinary(t), []string{"-l", old.Host, "-p", strconv.Itoa(old.Port), "--admin-addr", ""})
		},
	}
)

func startOn(t *testing.T, bin string, args []string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(addr string, from, to State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, from.String()+"->"+to.String())
}

func (tr *transitions) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return fmt.Sprint(tr.got)
}

func fastBreaker(tr *transitions) BreakerConfig {
	return BreakerConfig{ProbeInitial: 20 * time.Millisecond, ProbeMax: 200 * time.Millisecond, OnStateChange: tr.record}
}

// assertFailsFast checks that an open breaker refuses requests without
// touching the network.
func assertFailsFast(t *testing.T, n *Node) {
	t.Helper()
	ctx := testCtx(t)
	before := n.Stats()
	for i := 0; i < 100; i++ {
		if _, err := n.Online().Get(ctx, "k"); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("Get with the breaker open: %v", err)
		}
		if err := n.Batch().Set(ctx, Item{Key: "k", Value: []byte("v")}); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("batch Set with the breaker open: %v", err)
		}
	}
	after := n.Stats()
	if after.Sent != before.Sent || after.Dials != before.Dials || after.Timeouts != before.Timeouts {
		t.Fatalf("open breaker touched the network: before %+v after %+v", before, after)
	}
	if after.FastFails-before.FastFails != 200 {
		t.Fatalf("FastFails grew by %d, want 200", after.FastFails-before.FastFails)
	}
}

func TestBreakerKilledMemcached(t *testing.T)  { testBreakerKilled(t, memcachedServer) }
func TestBreakerKilledZonecached(t *testing.T) { testBreakerKilled(t, zonecachedServer) }
func TestBreakerFrozenMemcached(t *testing.T)  { testBreakerFrozen(t, memcachedServer) }
func TestBreakerFrozenZonecached(t *testing.T) { testBreakerFrozen(t, zonecachedServer) }

func testBreakerKilled(t *testing.T, srv server) {
	mc := srv.start(t)
	tr := &transitions{}
	n := newTestNode(t, mc.Addr, Config{Online: relaxed, Batch: relaxed, Breaker: fastBreaker(tr)})
	ctx := testCtx(t)
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	mc.Kill()

	// The first requests find the dead connection or a refused dial; the
	// breaker opens after at most FailureThreshold of them.
	var failures int
	for {
		_, err := n.Online().Get(ctx, "k")
		if errors.Is(err, ErrCircuitOpen) {
			break
		}
		if err == nil {
			t.Fatal("Get succeeded on a killed node")
		}
		if failures++; failures > DefaultFailureThreshold {
			t.Fatalf("breaker still closed after %d failures (last: %v)", failures, err)
		}
	}
	if n.State() != StateOpen {
		t.Fatal("State() is not open")
	}
	assertFailsFast(t, n)
	eventually(t, "probes against the dead node", func() bool { return n.Stats().Probes >= 2 })
	if n.State() != StateOpen {
		t.Fatal("breaker closed while the node is down")
	}

	srv.restart(t, mc)
	eventually(t, "the breaker to close", func() bool { return n.State() == StateClosed })
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("again")}); err != nil {
		t.Fatalf("Set after restart: %v", err)
	}
	if it, err := n.Batch().Get(ctx, "k"); err != nil || string(it.Value) != "again" {
		t.Fatalf("Get after restart: %+v %v", it, err)
	}
	if got := tr.String(); got != "[closed->open open->closed]" {
		t.Fatalf("transitions %s", got)
	}
}

func testBreakerFrozen(t *testing.T, srv server) {
	mc := srv.start(t)
	tr := &transitions{}
	n := newTestNode(t, mc.Addr, Config{
		Online:      PoolConfig{Timeout: time.Second},
		Batch:       relaxed,
		DialTimeout: time.Second,
		Breaker:     fastBreaker(tr),
	})
	ctx := testCtx(t)
	if err := n.Batch().Set(ctx, Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < DefaultOnlineConns; i++ { // connect every slot, so the freeze hits live connections
		if err := n.Online().Noop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	thaw := freeze(t, mc)

	// Several callers hit the frozen node at once; each may pay one timeout
	// (or see its request aborted when the breaker opens), never two.
	const callers = 4
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var slow int
			for {
				_, err := n.Online().Get(ctx, "k")
				if errors.Is(err, ErrCircuitOpen) && !errors.Is(err, ErrConnClosed) {
					break
				}
				if err == nil {
					t.Errorf("caller %d: Get succeeded on a frozen node", i)
					return
				}
				if slow++; slow > 1 {
					t.Errorf("caller %d paid a second failure before fast-failing: %v", i, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n.State() != StateOpen {
		t.Fatal("breaker not open")
	}
	if st := n.Stats(); st.Timeouts < 1 || st.Timeouts > callers {
		t.Fatalf("%d timeouts for %d callers (%+v)", st.Timeouts, callers, st)
	}
	assertFailsFast(t, n)
	eventually(t, "probes against the frozen node", func() bool { return n.Stats().Probes >= 2 })
	if n.State() != StateOpen {
		t.Fatal("breaker closed while the node is frozen")
	}

	thaw()
	eventually(t, "the breaker to close", func() bool { return n.State() == StateClosed })
	if it, err := n.Batch().Get(ctx, "k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("Get after thaw: %+v %v", it, err)
	}
	if got := tr.String(); got != "[closed->open open->closed]" {
		t.Fatalf("transitions %s", got)
	}
}

// TestBreakerSoftFailures: callers' own deadlines on a blackholed node count
// as soft failures; the third in a row opens the breaker. Cancellations
// between them neither count nor reset the count.
func TestBreakerSoftFailures(t *testing.T) {
	mc := startMemcached(t)
	px := startProxy(t, mc.Addr)
	tr := &transitions{}
	n := newTestNode(t, px.addr(), Config{
		Online:  PoolConfig{Conns: 1, Timeout: time.Minute},
		Breaker: BreakerConfig{ProbeInitial: time.Hour, OnStateChange: tr.record},
	})
	ctx := testCtx(t)
	if err := n.Online().Noop(ctx); err != nil {
		t.Fatal(err)
	}
	px.hold()
	missDeadline := func(i int) {
		t.Helper()
		if n.State() != StateClosed {
			t.Fatalf("breaker opened after %d failures", i-1)
		}
		// The deadline must outlast the trip to the send: a context that
		// ends before the request is sent is not the node's fault and
		// does not count (30 ms was too short on a loaded machine).
		dctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_, err := n.Online().Get(dctx, "k")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get %d: %v", i, err)
		}
	}
	for i := 1; i < DefaultFailureThreshold; i++ {
		missDeadline(i)
	}
	// A cancelled context is the caller's choice: it never counts.
	for i := 0; i < 2*DefaultFailureThreshold; i++ {
		cancelSentGet(t, n, px)
	}
	if n.State() != StateClosed {
		t.Fatalf("cancellations opened the breaker (%s)", tr)
	}
	missDeadline(DefaultFailureThreshold)
	if n.State() != StateOpen {
		t.Fatalf("breaker not open after %d deadline failures: the cancellations between reset the count", DefaultFailureThreshold)
	}
	px.release()
}

// cancelSentGet sends a Get to n through px, cancels its context once px
// has received the request and checks that it returns context.Canceled.
// (Stats.Sent counts a request when it is queued: cancelled before its
// write, it would close the connection and never reach the node.)
func cancelSentGet(t *testing.T, n *Node, px *proxy) {
	t.Helper()
	cctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	sent, up := n.Stats().Sent, px.upBytes.Load()
	done := make(chan error, 1)
	go func() { _, err := n.Online().Get(cctx, "k"); done <- err }()
	eventually(t, "the request to reach the proxy", func() bool {
		return n.Stats().Sent > sent && px.upBytes.Load() > up || len(done) > 0
	})
	select {
	case err := <-done:
		t.Fatalf("Get returned before it was cancelled: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get: %v", err)
	}
}

// TestBreakerCancelDoesNotCount: cancellations leave the breaker closed.
func TestBreakerCancelDoesNotCount(t *testing.T) {
	mc := startMemcached(t)
	px := startProxy(t, mc.Addr)
	n := newTestNode(t, px.addr(), Config{Online: PoolConfig{Conns: 1, Timeout: time.Minute}})
	ctx := testCtx(t)
	if err := n.Online().Noop(ctx); err != nil {
		t.Fatal(err)
	}
	px.hold()
	for i := 0; i < 10; i++ {
		cancelSentGet(t, n, px)
	}
	if n.State() != StateClosed {
		t.Fatal("cancellations opened the breaker")
	}
	px.release()
	if _, err := n.Online().Get(ctx, "k"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get after release: %v", err)
	}
}

// freeze stops proc with SIGSTOP and waits until it is stopped. It returns
// thaw, which resumes it, and runs at the end of the test if not called.
func freeze(t *testing.T, proc *testproc.Process) (thaw func()) {
	t.Helper()
	if err := proc.Freeze(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			if err := proc.Thaw(); err != nil {
				t.Errorf("thaw: %v", err)
			}
		})
	}
	t.Cleanup(thaw)
	// SIGSTOP is delivered asynchronously: wait until the process is stopped.
	eventually(t, "the node to stop", func() bool { return processState(proc.Pid()) == 'T' })
	return thaw
}

// processState returns the state letter of a process from /proc (R, S, T…).
func processState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// A request under ThroughOpenBreaker is sent while the breaker is open (a
// write skipped would leave the node an older value that others may read)
// and its answer closes the breaker, long before the next probe; reads
// still fail fast while it is open.
func TestThroughOpenBreakerSendsAndClosesMemcached(t *testing.T) {
	testThroughOpenBreakerSendsAndCloses(t, memcachedServer)
}

func TestThroughOpenBreakerSendsAndClosesZonecached(t *testing.T) {
	testThroughOpenBreakerSendsAndCloses(t, zonecachedServer)
}

func testThroughOpenBreakerSendsAndCloses(t *testing.T, srv server) {
	mc := srv.start(t)
	tr := &transitions{}
	n := newTestNode(t, mc.Addr, Config{
		Online:      PoolConfig{Timeout: time.Second},
		Batch:       relaxed,
		DialTimeout: 5 * time.Second,
		// No probe within the test: only a request can close the breaker.
		Breaker: BreakerConfig{ProbeInitial: time.Hour, ProbeMax: time.Hour, OnStateChange: tr.record},
	})
	ctx := testCtx(t)
	for i := 0; i < DefaultOnlineConns; i++ { // connect every slot: the freeze opens the breaker with no failed dial
		if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("old")}); err != nil {
			t.Fatal(err)
		}
	}
	thaw := freeze(t, mc)
	if _, err := n.Online().Get(ctx, "k"); err == nil {
		t.Fatal("Get answered by a frozen node")
	}
	eventually(t, "the breaker to open", func() bool { return n.State() == StateOpen })
	thaw()
	if _, err := n.Online().Get(ctx, "k"); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Get with the breaker open: %v, want ErrCircuitOpen", err)
	}
	if err := n.Online().Set(ThroughOpenBreaker(ctx), Item{Key: "k", Value: []byte("new")}); err != nil {
		t.Fatalf("Set through the open breaker: %v", err)
	}
	if n.State() != StateClosed {
		t.Fatal("the answer to a request sent through the open breaker did not close it")
	}
	if it, err := n.Online().Get(ctx, "k"); err != nil || string(it.Value) != "new" {
		t.Fatalf("Get after the Set through the open breaker: %q %v", it.Value, err)
	}
	if got := tr.String(); got != "[closed->open open->closed]" {
		t.Fatalf("transitions %s", got)
	}
}

// While the breaker is open, requests sent through it dial a node whose
// dial failed at most once per ProbeInitial: writes to a dead node fail
// fast, as before, rather than each trying to connect.
func TestThroughOpenBreakerPacesDials(t *testing.T) {
	mc := startMemcached(t)
	n := newTestNode(t, mc.Addr, Config{Online: relaxed, Batch: relaxed, Breaker: BreakerConfig{ProbeInitial: time.Hour, ProbeMax: time.Hour}})
	ctx := ThroughOpenBreaker(testCtx(t))
	mc.Kill()
	if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); err == nil || errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Set to a killed node: %v, want a failed dial", err)
	}
	if n.State() != StateOpen {
		t.Fatal("a refused dial did not open the breaker")
	}
	before := n.Stats()
	for i := 0; i < 50; i++ {
		if err := n.Online().Set(ctx, Item{Key: "k", Value: []byte("v")}); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("Set through the open breaker within ProbeInitial of a failed dial: %v, want ErrCircuitOpen", err)
		}
	}
	if after := n.Stats(); after.Dials != before.Dials {
		t.Fatalf("%d dials within ProbeInitial of a failed one, want 0", after.Dials-before.Dials)
	}
}
