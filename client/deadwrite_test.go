package client

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// Writes with the local replica dead (kill -9) or frozen (SIGSTOP) and its
// breaker open: every Set meets the default policy from the other zones,
// and the writer does not wait for the dead replica (its latency figures
// are logged; the README quotes them, the test asserts no timing).
func TestSetWithLocalReplicaDown(t *testing.T) {
	for _, fault := range []string{"kill9", "sigstop"} {
		t.Run(fault, func(t *testing.T) {
			f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
			c := newTestClient(t, f.topo, "a", func(c *Config) {
				// The client's defaults for timeouts, breaker and probes.
				c.Node.Online.Timeout = nodeclient.DefaultOnlineTimeout
				c.Node.DialTimeout = nodeclient.DefaultDialTimeout
				c.Node.Breaker.ProbeMax = DefaultProbeMax
			})
			loadKeys(t, c, "down", 50)
			a0 := f.proc("a0")
			if fault == "kill9" {
				a0.Kill()
			} else if err := a0.Freeze(); err != nil {
				t.Fatal(err)
			} else {
				defer func() { _ = a0.Thaw() }()
			}
			tn := c.c.view.Load().byID["a0"].tn
			eventually(t, "the breaker of a0 to open", func() bool {
				_, _ = c.Set(context.Background(), Item{Key: "probe", Value: []byte("x")})
				return tn.State() == nodeclient.StateOpen
			})
			const writers, perWriter = 4, 1500
			lat := make([][]time.Duration, writers)
			errs := make(chan error, writers*perWriter)
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < perWriter; i++ {
						start := time.Now()
						_, err := c.Set(context.Background(), Item{Key: fmt.Sprintf("down-%d", (w*perWriter+i)%50), Value: []byte("v")})
						lat[w] = append(lat[w], time.Since(start))
						if err != nil {
							errs <- err
						}
					}
				}(w)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				for _, n := range []string{"b0", "c0"} {
					p := f.proc(n)
					t.Logf("%s exited=%v output:\n%s", n, p.Exited(), p.Output())
				}
				t.Fatalf("Set with a0 down: %v", err)
			}
			all := slices.Concat(lat...)
			slices.Sort(all)
			q := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
			t.Logf("%s: %d Sets with a0 down: p50 %v p99 %v p99.9 %v max %v; breaker %v",
				fault, len(all), q(0.5), q(0.99), q(0.999), all[len(all)-1], tn.State())
		})
	}
}
