package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// statedBound is the memory bound the node logs at start.
func statedBound(t *testing.T, p *testproc.Process) int64 {
	t.Helper()
	re := regexp.MustCompile(`msg="memory bound" bytes=(\d+)`)
	var bound int64
	testproc.Eventually(t, deadline, "the memory bound logged", func() bool {
		m := re.FindStringSubmatch(p.Output())
		if m != nil {
			bound, _ = strconv.ParseInt(m[1], 10, 64)
		}
		return m != nil
	})
	return bound
}

// peakRSS reads the process's peak resident set size (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// idleKeepAlive opens a connection to the admin address, gets /healthz on
// it and leaves it open and idle.
func idleKeepAlive(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, deadline)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(deadline))
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return c, fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	return c, nil
}

// 10,000 idle keep-alive connections to the admin port (issue 14: 18,000
// of them took RSS past the stated bound) leave the node within its bound
// and its cache port serving; each new one takes the place of the
// longest idle, so health checks still get through.
func TestAdminIdleConnectionFloodStaysWithinTheMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections")
	}
	for _, tc := range []struct {
		name string
		args []string
	}{{"defaults", nil}, {"-m 8 -c 16", []string{"-m", "8", "-c", "16"}}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
			p := testproc.StartZonecached(t, append([]string{"--admin-addr", addr}, tc.args...)...)
			bound := statedBound(t, p)
			if _, err := idleKeepAlive(addr); err != nil {
				t.Fatal(err)
			}
			probe := startProbe(t, p.Addr, false)
			const flood = 10_000
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			var maxRSS int64
			for i := range flood {
				c, err := idleKeepAlive(addr)
				if c != nil {
					conns = append(conns, c)
				}
				if err != nil {
					t.Fatalf("idle connection %d: %v", i, err)
				}
				if i%500 == 0 {
					rss, err := p.RSSBytes()
					if err != nil {
						t.Fatal(err)
					}
					maxRSS = max(maxRSS, rss)
				}
			}
			probe.await(t, 3)
			probe.check(t)
			peak := peakRSS(t, p.Pid())
			t.Logf("%d idle admin connections: VmRSS at most %.1f MiB sampled, VmHWM %.1f MiB, stated bound %.1f MiB; probe %d rounds",
				flood, float64(maxRSS)/(1<<20), float64(peak)/(1<<20), float64(bound)/(1<<20), probe.rounds.Load())
			if peak > bound || maxRSS > bound {
				t.Errorf("resident memory %d (peak %d) past the stated bound %d", maxRSS, peak, bound)
			}
			if evicted := metricValue(t, addr, "zonecache_admin_evicted_connections_total"); evicted < flood-64 {
				t.Errorf("evicted idle connections %v; want at least %d", evicted, flood-64)
			}
		})
	}
}

// Connections that hold their place without finishing a request (not
// idle, so not evicted) make the next one refused, counted, until the
// header timeout closes them.
func TestAdminConnectionLimitRefusesAndRecovers(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	testproc.StartZonecached(t, "--admin-addr", addr, "--admin-max-conns", "4")
	idle, err := idleKeepAlive(addr) // evicted by the fourth silent one
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	silent := func() {
		c, err := net.DialTimeout("tcp", addr, deadline)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\n") // the header never ends
	}
	for range 4 {
		silent()
	}
	// The fourth evicts the idle keep-alive, unless the server had not
	// yet marked it idle (it does so after writing the response this test
	// read): then the fourth was refused, and another silent one is sent
	// until the keep-alive is evicted, so that four silent ones hold the
	// places.
	testproc.Eventually(t, deadline, "the idle keep-alive evicted by a silent connection", func() bool {
		_ = idle.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := idle.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); err == nil || (ok && ne.Timeout()) {
			silent()
			return false
		}
		return true
	})
	c, err := idleKeepAlive(addr)
	if c != nil {
		c.Close()
	}
	if err == nil {
		t.Fatal("a fifth connection was served while four held their places")
	}
	t.Logf("fifth: %v", err)
	start := time.Now()
	defer func() { t.Logf("served again after %v", time.Since(start)) }()
	testproc.Eventually(t, deadline, "the admin listener serving again after the header timeout", func() bool {
		c, err := idleKeepAlive(addr)
		if c != nil {
			c.Close()
		}
		return err == nil
	})
	if n := metricValue(t, addr, "zonecache_admin_rejected_connections_total"); n < 1 {
		t.Fatalf("rejected admin connections %v; want at least 1", n)
	}
}
