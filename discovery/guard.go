package discovery

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/replication"
)

// shrink is what a new view takes away from the last applied one: the
// nodes that served reads there and do not in the new view (gone, or back
// to joining or warming), and the zones left with no node serving reads
// that had some.
type shrink struct {
	lost    []string // node ids, sorted
	emptied []string // zones, sorted
	serving int      // nodes serving reads in the last view
}

// shrinkOf compares next with last by node ids and states only: epochs
// from different seeds are not comparable, so they play no part.
func shrinkOf(last, next replication.Topology) shrink {
	now := make(map[string]bool)
	zones := make(map[string]bool)
	for _, n := range next.Nodes {
		if n.EffectiveState().ServesReads() {
			now[n.ID] = true
			zones[n.Zone] = true
		}
	}
	var s shrink
	emptied := make(map[string]bool)
	for _, n := range last.Nodes {
		if !n.EffectiveState().ServesReads() {
			continue
		}
		s.serving++
		if !now[n.ID] {
			s.lost = append(s.lost, n.ID)
		}
		if !zones[n.Zone] && !emptied[n.Zone] {
			emptied[n.Zone] = true
			s.emptied = append(s.emptied, n.Zone)
		}
	}
	sort.Strings(s.lost)
	sort.Strings(s.emptied)
	return s
}

// needsConfirmation reports whether the shrink is too large to take on one
// seed's word without asking the others: it removes more than half of the
// nodes serving reads, or leaves a zone that had a node serving reads with
// none.
func (s shrink) needsConfirmation() bool {
	return s.strict() || len(s.emptied) > 0
}

// strict reports whether the shrink removes more than half of the nodes
// serving reads: then only another seed's agreement lets it apply. A
// smaller shrink that empties a zone applies unless another seed that
// answered disagrees: with one node per zone, or a seed in the zone that
// was lost, no other seed may be able to confirm a real node death.
func (s shrink) strict() bool { return 2*len(s.lost) > s.serving }

// held reports whether a shrink that needed confirmation stays held back,
// given confirm's answer.
func (s shrink) held(by, disagreed int) bool {
	return by < 0 && (s.strict() || disagreed >= 0)
}

// confirmedBy reports whether view v also lacks every lost node as a
// reader, so that it agrees with the shrink.
func (s shrink) confirmedBy(v replication.Topology) bool {
	lost := make(map[string]bool, len(s.lost))
	for _, id := range s.lost {
		lost[id] = true
	}
	for _, n := range v.Nodes {
		if lost[n.ID] && n.EffectiveState().ServesReads() {
			return false
		}
	}
	return true
}

// confirm asks every seed but the proposer, at once, for its topology and
// reports the index of the first one whose view confirms s (-1 if none
// does), and of one that answered but disagreed (-1 if none did).
func confirm(ctx context.Context, cfg Config, proposer int, s shrink) (by, disagreed int) {
	ctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	type answer struct {
		seed int
		t    replication.Topology
		err  error
	}
	answers := make(chan answer, len(cfg.Seeds))
	asked := 0
	for i, seed := range cfg.Seeds {
		if i == proposer {
			continue
		}
		asked++
		go func() {
			t, err := get(ctx, cfg.HTTPClient, seed, 0, 0)
			answers <- answer{i, t, err}
		}()
	}
	by, disagreed = -1, -1
	for range asked {
		a := <-answers
		switch {
		case a.err != nil:
		case s.confirmedBy(a.t):
			return a.seed, disagreed // cancel ends the other requests
		case disagreed < 0:
			disagreed = a.seed
		}
	}
	return by, disagreed
}

// heldCounter returns zonecache_discovery_held_topologies_total, registered
// with reg when reg is not nil, or the one already registered there: every
// Watch on one registry shares it, and it stays registered when a Watch
// returns (unregistering it would hide another Watch's counts).
func heldCounter(reg prometheus.Registerer) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zonecache_discovery_held_topologies_total",
		Help: "Topologies held back because they removed too many serving nodes and no second seed confirmed them.",
	})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("discovery: register metrics: %w", err)
	}
	return c, nil
}
