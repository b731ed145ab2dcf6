package e2e

import (
	"bufio"
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

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// zoneClient is a client in zone that follows the fleet's topology from
// seeds until the test ends, once they list wantNodes nodes.
func zoneClient(t *testing.T, zone string, seeds []string, wantNodes int) *client.Client {
	t.Helper()
	cfg := discovery.Config{Seeds: seeds, Wait: 2 * time.Second, RetryMin: 50 * time.Millisecond,
		RequestTimeout: time.Second, Logger: quiet()}
	var top replication.Topology
	testproc.Eventually(t, 30*time.Second, "the fleet has gossiped to full size", func() bool {
		var err error
		top, err = discovery.Fetch(context.Background(), cfg)
		return err == nil && len(top.Nodes) == wantNodes
	})
	c, err := client.New(client.Config{Zone: zone, Topology: top, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = discovery.Watch(ctx, cfg, top, c.SetTopology) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	return c
}

// rawGet reads keys straight from one node with the text protocol and
// returns the values found.
func rawGet(addr string, keys []string) (map[string]string, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(nc, "get %s\r\n", strings.Join(keys, " ")); err != nil {
		return nil, err
	}
	r := bufio.NewReader(nc)
	out := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == "END\r\n" {
			return out, nil
		}
		var k string
		var flags, n int
		if _, err := fmt.Sscanf(line, "VALUE %s %d %d", &k, &flags, &n); err != nil {
			return nil, fmt.Errorf("reply %q: %w", line, err)
		}
		v := make([]byte, n+2)
		if _, err := io.ReadFull(r, v); err != nil {
			return nil, err
		}
		out[k] = string(v[:n])
	}
}

// A node frozen (SIGSTOP) until the fleet drops it, whose keys are all
// rewritten meanwhile by another client, never serves the old values once
// thawed: read straight from the node, and through a client in its zone
// while and after it returns to the topology.
func TestFrozenNodeThatReturnsServesNoOldValue(t *testing.T) {
	f := startFleet(t, fleet.Config{Binary: testproc.ZonecachedBinary(t), Gossip: true, Zones: []string{"a", "b"},
		// 500 ms probes: the fleet drops a frozen node in a few seconds,
		// and the pause bound (750 ms) leaves room for a loaded machine.
		Args: []string{"--gossip-probe-interval", "500ms"}})
	const nodes = 4
	reader := zoneClient(t, "a", f.AdminAddrs(), nodes)
	writer := zoneClient(t, "b", f.AdminAddrs(), nodes)
	ctx := context.Background()
	var all []string
	for i := 0; i < 200; i++ {
		k := fmt.Sprintf("ret:%d", i)
		all = append(all, k)
		if _, err := writer.Set(ctx, client.Item{Key: k, Value: []byte("old")}); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	frozen := f.Zone("a")[0]
	held, err := rawGet(frozen.Addr, all)
	if err != nil || len(held) == 0 {
		t.Fatalf("%s holds %d keys (%v)", frozen.ID, len(held), err)
	}
	var keys []string
	for k := range held {
		keys = append(keys, k)
	}
	t.Logf("%s holds %d of %d keys", frozen.ID, len(keys), len(all))

	// A client that sends a write to the node while it is frozen and
	// gives up: the bytes wait in the node's kernel.
	queued, err := net.DialTimeout("tcp", frozen.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer queued.Close()
	// The node has accepted the connection (a connection still in the
	// kernel's accept queue when the node resumes is not retired).
	if _, err := io.WriteString(queued, "mn\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = queued.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(queued).ReadString('\n'); line != "MN\r\n" {
		t.Fatalf("mn: %q, %v", line, err)
	}
	if err := frozen.Freeze(); err != nil {
		t.Fatal(err)
	}
	testproc.Eventually(t, 10*time.Second, frozen.ID+" is stopped", func() bool { return stopped(frozen.Pid()) })
	if _, err := io.WriteString(queued, "set ret:queued 0 0 3\r\nold\r\n"); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			_ = frozen.Thaw()
		}
	}()
	testproc.Eventually(t, 60*time.Second, "both clients drop the frozen node", func() bool {
		return !hasNode(reader, frozen.ID, "") && !hasNode(writer, frozen.ID, "")
	})
	for _, k := range keys {
		if _, err := writer.Set(ctx, client.Item{Key: k, Value: []byte("new")}); err != nil {
			t.Fatalf("rewrite %s: %v", k, err)
		}
	}
	if err := frozen.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true

	// The write queued during the freeze was sent before the node was
	// dropped: it is not applied after the writes made meanwhile.
	// The node closes the connection unread, or refuses the write if it
	// is still cut off from the fleet when it reads it.
	testproc.Eventually(t, 20*time.Second, "the queued write is closed or refused", func() bool {
		_ = queued.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		b := make([]byte, 64)
		n, err := queued.Read(b)
		if n > 0 && !strings.HasPrefix(string(b[:n]), "SERVER_ERROR") {
			t.Errorf("the write queued during the freeze was answered: %q", b[:n])
		}
		return n > 0 || err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	})
	// A connection the node accepted just before an invalidation is
	// closed unanswered (conn.stale): ask again until it answers.
	var queuedGot map[string]string
	testproc.Eventually(t, 20*time.Second, "a get of the queued write's key answered", func() bool {
		got, err := rawGet(frozen.Addr, []string{"ret:queued"})
		queuedGot = got
		return err == nil
	})
	if len(queuedGot) != 0 {
		t.Errorf("the write queued during the freeze was applied: %v", queuedGot)
	}

	// Straight from the node, from the moment it runs again.
	stale, reads := 0, 0
	back := false
	deadline := time.Now().Add(60 * time.Second)
	for !back || reads < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("%s not back in the reader's topology within 60 s (back %v, %d direct reads)", frozen.ID, back, reads)
		}
		got, err := rawGet(frozen.Addr, keys)
		if err != nil {
			continue
		}
		reads++
		for k, v := range got {
			if v == "old" {
				stale++
				t.Errorf("direct read %d of %s from %s: the old value", reads, k, frozen.ID)
			}
		}
		back = hasNode(reader, frozen.ID, replication.Serving)
	}
	// Through the client of its zone, now that it reads the node again.
	end := time.Now().Add(3 * time.Second)
	clientReads := 0
	for time.Now().Before(end) {
		for _, k := range keys {
			it, err := reader.Get(ctx, k)
			if err != nil {
				continue
			}
			clientReads++
			if string(it.Value) != "new" {
				stale++
				t.Errorf("client read of %s: %q, want new", k, it.Value)
			}
		}
	}
	t.Logf("%d direct reads of %d keys and %d client reads after the thaw; %d stale", reads, len(keys), clientReads, stale)
	if clientReads == 0 {
		t.Fatal("the zone a client read nothing")
	}
}

// stopped reports whether process pid is stopped by a signal (state T in
// /proc/pid/stat): SIGSTOP takes effect after kill returns.
func stopped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'T'
}
