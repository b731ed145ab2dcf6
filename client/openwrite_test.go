package client

import (
	"errors"
	"testing"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// Writes go through open breakers (so that a node slow for this writer is
// not left an older value), but no caller waits for them: with two of
// three zones frozen and their breakers open, every Set fails its policy
// at once, as "a dead node costs a caller at most one timeout per breaker
// period" asks. Before, every second Set waited a dial timeout (3 s) for
// a write sent through.
func TestSetDoesNotWaitForReplicasBehindOpenBreakers(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b", "c"}, 1)
	const timeout = 2 * time.Second
	c := newTestClient(t, f.topo, "a", func(cfg *Config) { cfg.Node.Online.Timeout = timeout })
	if _, err := c.Set(testCtx(t), Item{Key: "warm", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b0", "c0"} {
		if err := f.proc(id).Freeze(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.proc(id).Thaw() })
	}
	// The first Set after the freeze pays the timeout that opens the
	// breakers.
	_, _ = c.Set(testCtx(t), Item{Key: "k", Value: []byte("v0")})
	eventually(t, "b0 and c0 open", func() bool {
		v := c.c.view.Load()
		return v.byID["b0"].tn.State() == nodeclient.StateOpen && v.byID["c0"].tn.State() == nodeclient.StateOpen
	})
	// Sets spread over several ProbeInitial periods: a failed dial paces
	// the writes sent through for one period only.
	var worst time.Duration
	for i := range 20 {
		start := time.Now()
		res, err := c.Set(testCtx(t), Item{Key: "k" + string(rune('a'+i)), Value: []byte("v")})
		worst = max(worst, time.Since(start))
		if !errors.Is(err, replication.ErrPolicyNotMet) || res.Succeeded != 1 {
			t.Fatalf("Set %d: %+v, %v; want the policy not met with one success", i, res, err)
		}
		time.Sleep(50 * time.Millisecond) // pacing the calls, not synchronisation
	}
	t.Logf("slowest Set: %v", worst)
	if worst >= timeout/2 {
		t.Fatalf("a Set with two zones behind open breakers took %v, want well under one timeout (%v)", worst, timeout)
	}
}
