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

// cacheProbe sets and gets a key on the cache port every 100 ms until
// stopped, counting the round trips and the failures.
type cacheProbe struct {
	stop          chan struct{}
	done          chan struct{}
	ops, failures int
	firstErr      error
}

func startCacheProbe(t *testing.T, addr string) *cacheProbe {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	p := &cacheProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer c.Close()
		r := bufio.NewReader(c)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			p.ops++
			if err := probeOnce(c, r, i); err != nil {
				p.failures++
				if p.firstErr == nil {
					p.firstErr = err
				}
			}
		}
	}()
	return p
}

// probeOnce sets probe:i and reads it back.
func probeOnce(c net.Conn, r *bufio.Reader, i int) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	v := strconv.Itoa(i)
	fmt.Fprintf(c, "set probe 0 0 %d\r\n%s\r\nget probe\r\n", len(v), v)
	want := []string{"STORED", fmt.Sprintf("VALUE probe 0 %d", len(v)), v, "END"}
	for _, w := range want {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.TrimRight(line, "\r\n") != w {
			return fmt.Errorf("probe %d: %q, want %q", i, line, w)
		}
	}
	return nil
}

// finish stops the probe and returns its counts.
func (p *cacheProbe) finish() (ops, failures int, firstErr error) {
	close(p.stop)
	<-p.done
	return p.ops, p.failures, p.firstErr
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
			probe := startCacheProbe(t, p.Addr)
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
			ops, failures, firstErr := probe.finish()
			peak := peakRSS(t, p.Pid())
			t.Logf("%d idle admin connections: VmRSS at most %.1f MiB sampled, VmHWM %.1f MiB, stated bound %.1f MiB; probe %d ops",
				flood, float64(maxRSS)/(1<<20), float64(peak)/(1<<20), float64(bound)/(1<<20), ops)
			if peak > bound || maxRSS > bound {
				t.Errorf("resident memory %d (peak %d) past the stated bound %d", maxRSS, peak, bound)
			}
			if failures != 0 || ops == 0 {
				t.Errorf("cache probe: %d failures in %d ops (first: %v)", failures, ops, firstErr)
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
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, deadline)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\n") // the header never ends
	}
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
