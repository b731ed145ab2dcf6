package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// Environment of the spool helper process (the test binary re-executed,
// as os/exec's tests do).
const (
	envSpoolHelper = "ZONECACHE_SPOOL_HELPER"
	envSpoolTopo   = "ZONECACHE_SPOOL_TOPO"
	envSpoolDir    = "ZONECACHE_SPOOL_DIR"
	envSpoolKey    = "ZONECACHE_SPOOL_KEY"
	envSpoolZone   = "ZONECACHE_SPOOL_ZONE"
)

// TestSpoolHelperProcess is not a test: run by TestRepairSurvivesProcessKill
// in a child process, it deletes a key with a zone down, waits until the
// client has accepted the repair, says so on stdout and waits to be killed.
func TestSpoolHelperProcess(t *testing.T) {
	if os.Getenv(envSpoolHelper) != "1" {
		t.Skip("helper process")
	}
	var topo replication.Topology
	if err := json.Unmarshal([]byte(os.Getenv(envSpoolTopo)), &topo); err != nil {
		t.Fatal(err)
	}
	zone, key := os.Getenv(envSpoolZone), os.Getenv(envSpoolKey)
	c, err := New(Config{Zone: zone, Topology: topo, Logger: quietLogger, RepairSpoolDir: os.Getenv(envSpoolDir)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The local replica is frozen or dead: read until its breaker is
	// open, so that the delete fails fast there and nothing of it waits
	// in a frozen node's socket to be applied when it thaws.
	m := replicaOf(c, zone, key)
	for m.tn.State() != nodeclient.StateOpen {
		if ctx.Err() != nil {
			t.Fatal("the breaker of the local replica did not open")
		}
		_, _ = c.Get(ctx, key)
	}
	if _, err := c.Delete(ctx, key); err != nil {
		t.Fatalf("Delete (all-minus-one) with one zone down: %v", err)
	}
	for c.PendingRepairs() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no repair accepted")
		}
		time.Sleep(time.Millisecond)
	}
	os.Stdout.WriteString("ACCEPTED " + strconv.Itoa(c.PendingRepairs()) + "\n")
	<-ctx.Done() // killed long before
}

// startHelper runs the spool helper and returns it once it has printed
// ACCEPTED.
func startHelper(t *testing.T, topo replication.Topology, zone, dir, key string) *exec.Cmd {
	t.Helper()
	tj, _ := json.Marshal(topo)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), envSpoolHelper+"=1", envSpoolTopo+"="+string(tj), envSpoolDir+"="+dir, envSpoolKey+"="+key, envSpoolZone+"="+zone)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ACCEPTED") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the helper exited without accepting a repair")
		}
		t.Logf("helper: %s", l)
	case <-time.After(60 * time.Second):
		t.Fatal("the helper did not accept a repair within 60 s")
	}
	return cmd
}

// restartMemcached starts memcached again on a dead node's address, as a
// node that comes back, and stops it when the test ends.
func restartMemcached(t *testing.T, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-l", host, "-p", port, "-U", "0", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	cmd := exec.Command(testproc.RequireMemcached(t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "memcached back on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// A delete acknowledged by a process that is then killed (SIGKILL, no
// Close) while zone c's node is down (killed, or frozen) is carried out by
// the next client started on the same spool directory once the node is
// back with its old data: the deleted value does not come back.
func TestRepairSurvivesProcessKill(t *testing.T) {
	for _, fault := range []string{"kill", "freeze"} {
		t.Run(fault, func(t *testing.T) { testRepairSurvivesProcessKill(t, fault) })
	}
}

func testRepairSurvivesProcessKill(t *testing.T, fault string) {
	f := startFleet(t, "memcached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	dir := t.TempDir()
	const key = "session:42"
	setup := newTestClient(t, f.topo, "a", func(c *Config) { c.WritePolicy = replication.All })
	if _, err := setup.Set(ctx, Item{Key: key, Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	c0 := f.proc("c0")
	if fault == "kill" {
		c0.Kill()
	} else if err := c0.Freeze(); err != nil {
		t.Fatal(err)
	}

	helper := startHelper(t, f.topo, "c", dir, key)
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+spoolExt))
	if len(segs) != 1 {
		t.Fatalf("segments left by the killed process: %v", segs)
	}

	// c0 comes back with the value it had.
	k, _ := setup.c.mapKey(key)
	if fault == "kill" {
		restartMemcached(t, c0.Addr)
		if err := direct(t, c0.Addr).Set(ctx, nodeclient.Item{Key: k.node, Value: []byte("old")}); err != nil {
			t.Fatal(err)
		}
	} else if err := c0.Thaw(); err != nil {
		t.Fatal(err)
	}
	if it, err := direct(t, c0.Addr).Get(ctx, k.node); err != nil || string(it.Value) != "old" {
		t.Fatalf("c0 back: %q %v, want the old value", it.Value, err)
	}

	c := newTestClient(t, f.topo, "c", func(c *Config) { c.RepairSpoolDir = dir })
	if n := testutil.ToFloat64(c.c.metrics.spoolReplayed); n != 1 {
		t.Fatalf("repairs taken over from the spool: %v, want 1", n)
	}
	// Its own readers never see the old value, before or after the repair.
	if it, err := c.Get(ctx, key); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get in zone c right after the restart: %q %v, want a miss", it.Value, err)
	}
	eventually(t, "the replayed delete done on c0", func() bool {
		_, err := direct(t, c0.Addr).Get(ctx, k.node)
		return errors.Is(err, nodeclient.ErrCacheMiss)
	})
	if n := testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("ok")); n != 1 {
		t.Fatalf("repairs_total{ok} = %v: the new client made no delete of its own, so only the replay can have", n)
	}
	if _, err := os.Stat(segs[0]); !os.IsNotExist(err) {
		t.Fatalf("the adopted segment is still there: %v", err)
	}
	if it, err := c.Get(ctx, key); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get after the replay: %q %v", it.Value, err)
	}
}

// While this client has a repair of a key pending on a replica that
// answers, its reads do not take that replica's copy.
func TestReadGateSkipsReplicaWithPendingRepair(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	const key, other = "price:7", "price:8"
	fail := FaultConfig{Rules: []FaultRule{{Node: "c0", Ops: []string{"delete", "repair"}, Share: 1}}}
	c := newTestClient(t, f.topo, "c", func(c *Config) {
		c.Faults = fail
		c.Repair.MinBackoff = time.Hour
		c.Repair.MaxBackoff = time.Hour
		c.DisableFallbackOnMiss = true // the gate falls back anyway
	})
	for _, k := range []string{key, other} {
		if _, err := c.Set(ctx, Item{Key: k, Value: []byte("old")}); err != nil {
			t.Fatal(err)
		}
	}
	// The delete fails on c0 (injected, nothing sent): c0 keeps "old".
	if _, err := c.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	eventually(t, "the repair tried once and backing off", func() bool {
		return testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("retry")) >= 1
	})
	k, _ := c.c.mapKey(key)
	if it, err := direct(t, f.proc("c0").Addr).Get(ctx, k.node); err != nil || string(it.Value) != "old" {
		t.Fatalf("c0 should still hold the old value: %q %v", it.Value, err)
	}
	if it, err := c.Get(ctx, key); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get: %q %v, want a miss (c0's copy is awaiting a repair)", it.Value, err)
	}
	if it, err := c.GetAndTouch(ctx, key, time.Hour); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("GetAndTouch: %q %v, want a miss", it.Value, err)
	}
	got, err := c.GetMulti(ctx, []string{key, other})
	if err != nil || len(got) != 1 || string(got[other].Value) != "old" {
		t.Fatalf("GetMulti: %v %v, want only %s", got, err, other)
	}
	if n := testutil.ToFloat64(c.c.metrics.gatedReads); n != 3 {
		t.Fatalf("gated reads %v, want 3", n)
	}
	// Another key of the same node is read from it as usual.
	if it, err := c.Get(ctx, other); err != nil || it.zone != "c" {
		t.Fatalf("Get of a key without a repair: zone %q %v", it.zone, err)
	}
	// GetOrLoad neither: it loads.
	it, err := c.GetOrLoad(ctx, key, time.Minute, func(context.Context) ([]byte, error) { return []byte("loaded"), nil })
	if err != nil || string(it.Value) != "loaded" {
		t.Fatalf("GetOrLoad: %q %v, want the loader's value", it.Value, err)
	}
}

// When a node's breaker closes, its repairs run at once (not after their
// backoff, an hour here), and meanwhile a reader in its zone never sees
// the value the node kept.
func TestBreakerCloseExpeditesRepairs(t *testing.T) {
	f := startFleet(t, "memcached", []string{"a", "b", "c"}, 1)
	ctx := testCtx(t)
	const key = "cart:9"
	var closes atomic.Int32
	c := newTestClient(t, f.topo, "c", func(c *Config) {
		c.Repair.MinBackoff = time.Hour
		c.Repair.MaxBackoff = time.Hour
		c.Node.Online.Timeout = 300 * time.Millisecond
		c.Node.Breaker.OnStateChange = func(_ string, _, to nodeclient.State) {
			if to == nodeclient.StateClosed {
				closes.Add(1) // the user's callback still runs
			}
		}
	})
	if _, err := c.Set(ctx, Item{Key: key, Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	c0 := f.proc("c0")
	m := replicaOf(c, "c", key)
	if err := c0.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c0.Thaw() })
	// Reads time out on the frozen node until its breaker opens; only
	// then is the delete made, so that it fails fast and nothing of it
	// sits in c0's socket.
	eventually(t, "breaker open", func() bool {
		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = c.Get(short, key)
		return m.tn.State() == nodeclient.StateOpen
	})
	if _, err := c.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	eventually(t, "the repair failed once and backing off", func() bool {
		return testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("retry")) >= 1
	})
	stale := make(chan string, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if it, err := c.Get(ctx, key); err == nil {
				select {
				case stale <- string(it.Value) + " from zone " + it.zone:
				default:
				}
			}
		}
	}()
	if err := c0.Thaw(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "repair done after the breaker closed", func() bool {
		return testutil.ToFloat64(c.c.metrics.repairs.WithLabelValues("ok")) == 1
	})
	close(stop)
	<-done
	select {
	case s := <-stale:
		t.Fatalf("a reader saw %s", s)
	default:
	}
	if closes.Load() < 1 {
		t.Fatal("the user's OnStateChange was not called")
	}
	k, _ := c.c.mapKey(key)
	if it, err := direct(t, c0.Addr).Get(ctx, k.node); !gone(it, err) {
		t.Fatalf("c0 after the repair: %v", err)
	}
}
