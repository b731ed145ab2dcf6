package nodeclient

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// timedTransitions records breaker transitions with their times.
type timedTransitions struct {
	mu  sync.Mutex
	got []string
	at  []time.Time
}

func (tr *timedTransitions) record(addr string, from, to State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, from.String()+"->"+to.String())
	tr.at = append(tr.at, time.Now())
}

func (tr *timedTransitions) first() (string, time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.got) == 0 {
		return "", time.Time{}
	}
	return tr.got[0], tr.at[0]
}

func (tr *timedTransitions) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.got)
}

// TestSlowNodeKeepsBreakerClosed: a node whose replies slow down until
// every one comes later than the timeout, under a steady pipelined load of
// independent requests (callers not in lock-step), keeps answering on its
// connections, so it is slow, not dead: every
// request times out (and its caller can fall back), none counts against
// the node, and the breaker stays closed. When the node speeds up again,
// requests succeed on the same connections.
func TestSlowNodeKeepsBreakerClosed(t *testing.T) {
	px := startProxyProc(t, startZonecached(t).Addr, 0)
	tr := &timedTransitions{}
	n := newTestNode(t, px.addr, Config{
		Online:  PoolConfig{Conns: 2, MaxInFlight: 24, Timeout: overloadTimeout},
		Breaker: BreakerConfig{ProbeInitial: 20 * time.Millisecond, ProbeMax: 100 * time.Millisecond, OnStateChange: tr.record},
	})
	ctx := testCtx(t)
	if err := n.Online().Noop(ctx); err != nil {
		t.Fatal(err)
	}
	// Slow down in steps of a fifth of the timeout, up to 1.2 times it, so
	// that replies to earlier requests keep arriving: a jump straight past
	// the timeout leaves a gap longer than it with nothing on the wire,
	// which cannot be told from a frozen node.
	steps := []time.Duration{overloadTimeout * 3 / 5, overloadTimeout * 4 / 5,
		overloadTimeout, overloadTimeout * 6 / 5}
	step, sentAt := -1, uint64(0)
	var timeoutsAtTop uint64
	o := load(ctx, n, 24, overloadTimeout/5, func(o *outcomes) bool {
		st := n.Stats()
		switch {
		case tr.count() > 0:
			return true
		case step < len(steps)-1 && st.Sent >= sentAt+32:
			step++
			px.setDelay(t, steps[step])
			t.Logf("delay %v at %+v", steps[step], st)
			sentAt = st.Sent
			timeoutsAtTop = st.Timeouts
			return false
		case step == len(steps)-1:
			// At the top every reply is late: wait for plenty of timeouts.
			return st.Timeouts >= timeoutsAtTop+64
		}
		return false
	})
	st := n.Stats()
	t.Logf("%s; stats %+v", o, st)
	if got, _ := tr.first(); got != "" {
		t.Fatalf("the breaker of a slow but answering node opened (%s; %+v)", o, st)
	}
	if st.BreakerFailures != 0 || o.open.Load() != 0 || o.other.Load() != 0 {
		t.Fatalf("failures counted against a slow node, or errors other than timeouts: %s; %+v", o, st)
	}
	if st.Timeouts < 64 {
		t.Fatalf("only %d requests timed out on the wire: the node was not slower than the timeout", st.Timeouts)
	}
	px.setDelay(t, 0)
	eventually(t, "requests to succeed again", func() bool {
		_, err := n.Online().Get(ctx, "sat-1")
		return err == nil || errors.Is(err, ErrCacheMiss)
	})
	if n.State() != StateClosed || st.Dials != n.Stats().Dials {
		t.Fatalf("state %v, dials %d -> %d: the slow node's connections were not kept", n.State(), st.Dials, n.Stats().Dials)
	}
}

// TestSlowNodeOneAtATimeOpens: a node that answers a lone request later
// than the timeout sent nothing on the connection for the request's whole
// wait, which cannot be told from a frozen node: its breaker opens, as
// documented, and closes once a probe gets an answer in ProbeTimeout.
func TestSlowNodeOneAtATimeOpens(t *testing.T) {
	px := startProxyProc(t, startMemcached(t).Addr, 0)
	tr := &timedTransitions{}
	n := newTestNode(t, px.addr, Config{
		Online:  PoolConfig{Conns: 1, Timeout: overloadTimeout},
		Breaker: BreakerConfig{ProbeInitial: 20 * time.Millisecond, ProbeMax: 100 * time.Millisecond, OnStateChange: tr.record},
	})
	ctx := testCtx(t)
	if err := n.Online().Noop(ctx); err != nil {
		t.Fatal(err)
	}
	px.setDelay(t, overloadTimeout*7/5)
	if _, err := n.Online().Get(ctx, "k"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Get from a node slower than the timeout: %v", err)
	}
	if n.State() != StateOpen {
		t.Fatalf("breaker %v after a lone request got nothing for its whole timeout", n.State())
	}
	px.setDelay(t, 0)
	eventually(t, "the breaker to close", func() bool { return n.State() == StateClosed })
}

func TestFrozenUnderOverloadOpensMemcached(t *testing.T) {
	testFrozenUnderOverload(t, memcachedServer)
}

func TestFrozenUnderOverloadOpensZonecached(t *testing.T) {
	testFrozenUnderOverload(t, zonecachedServer)
}

// testFrozenUnderOverload: a node frozen (SIGSTOP) while the client is
// saturated sends nothing, so its breaker still opens, although most
// requests time out in the client queue and are not blamed; it closes
// after the thaw.
func testFrozenUnderOverload(t *testing.T, srv server) {
	proc := srv.start(t)
	const maxInFlight = 4
	tr := &timedTransitions{}
	n := newTestNode(t, proc.Addr, Config{
		Online:      PoolConfig{Conns: 2, MaxInFlight: maxInFlight, Timeout: overloadTimeout},
		DialTimeout: time.Second,
		Breaker:     BreakerConfig{ProbeInitial: 20 * time.Millisecond, ProbeMax: 100 * time.Millisecond, OnStateChange: tr.record},
	})
	ctx := testCtx(t)
	var frozenAt time.Time
	var thaw func()
	o := saturate(ctx, n, 20*maxInFlight, func(o *outcomes) bool {
		if frozenAt.IsZero() && o.ok.Load() >= 200 {
			thaw = freeze(t, proc)
			frozenAt = time.Now()
		}
		return !frozenAt.IsZero() && tr.count() > 0
	})
	got, openedAt := tr.first()
	t.Logf("%s; stats %+v; opened %v after the freeze (timeout %v)", o, n.Stats(), openedAt.Sub(frozenAt), overloadTimeout)
	if got != "closed->open" {
		t.Fatalf("first transition %q, want closed->open", got)
	}
	thaw()
	eventually(t, "the breaker to close after the thaw", func() bool { return n.State() == StateClosed })
}
