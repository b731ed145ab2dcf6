package membership

import (
	"sync"
	"time"

	"github.com/zonecache/zonecache/internal/backoff"
)

// DefaultRejoinInterval is Config.RejoinInterval's default.
const DefaultRejoinInterval = 5 * time.Second

// DeadNodeWindow is how long memberlist keeps a dead member before it
// forgets it (GossipToTheDeadTime): local 15 s, lan 30 s, wan 60 s, scaled
// by ProbeInterval when set (local with 200 ms: 3 s). Two sides of a
// partition longer than failure detection plus this window no longer know
// each other; only the rejoin loop merges them again.
func DeadNodeWindow(cfg Config) (time.Duration, error) {
	mc, err := timings(cfg.Profile, cfg.ProbeInterval)
	if err != nil {
		return 0, err
	}
	return mc.GossipToTheDeadTime, nil
}

// rejoinLoop merges the fleet again after a partition: every
// RejoinInterval it joins (a push-pull state sync over TCP) each --join
// seed that is not a member in the topology and each known member that
// failed, in parallel. Each wait is drawn from half to all of
// RejoinInterval (equal jitter), so that members cut off together do not
// rejoin in step. memberlist itself forgets a dead member after
// GossipToTheDeadTime and never contacts it again, so without this two
// sides of a partition longer than failure detection plus that window
// stay apart for good. A round lasts at most the profile's TCP timeout
// (local 1 s, lan 10 s), so after a heal the fleet merges within
// RejoinInterval plus that timeout, plus a few gossip rounds for the news
// to reach every member.
func (m *Member) rejoinLoop() {
	defer m.health.loops.Done()
	t := time.NewTimer(backoff.Jitter(m.cfg.RejoinInterval))
	defer t.Stop()
	for {
		select {
		case <-m.health.stop:
			return
		case <-t.C:
		}
		m.rejoinOnce()
		t.Reset(backoff.Jitter(m.cfg.RejoinInterval))
	}
}

// rejoinTargets returns the seeds and failed members to join now. A seed
// is skipped when it is the gossip address (ip:port) of a member in the
// topology; a seed given by host name never matches one, and is joined
// every round (a push-pull state sync, cheap for a small fleet).
func (m *Member) rejoinTargets() []string {
	alive := m.health.aliveAddrs()
	self := m.GossipAddr()
	seen := map[string]bool{self: true}
	var out []string
	for _, a := range append(append([]string(nil), m.cfg.Join...), m.health.failed()...) {
		if !seen[a] && !alive[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// rejoinOnce joins every target in parallel and waits for them.
func (m *Member) rejoinOnce() {
	targets := m.rejoinTargets()
	if len(targets) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, a := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n, err := m.list.Join([]string{a}); n > 0 {
				m.log.Info("rejoined", "addr", a, "members", m.list.NumMembers())
			} else if m.list.NumMembers() == 1 {
				m.log.Warn("alone: no seed answered, joining again every rejoin interval", "addr", a, "err", err)
			} else {
				m.log.Debug("rejoin failed", "addr", a, "err", err)
			}
		}()
	}
	wg.Wait()
}
