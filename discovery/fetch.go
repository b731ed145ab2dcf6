package discovery

import (
	"context"
	"errors"
	"fmt"

	"github.com/zonecache/zonecache/replication"
)

// Fetch asks every seed at once for its topology and returns the view
// with the most nodes (on a tie, the newest epoch; then the earlier seed
// in Seeds). A seed cut off from the fleet by a partition, or restarted
// alone, serves a view of its own side only; a client that bootstrapped
// from it would see a minority of the fleet, read old values and split
// writes. Taking the largest view means Fetch never bootstraps from a
// minority view when a seed of the majority answers. Fetch waits for every
// seed to answer or fail, at most RequestTimeout: a seed that does not
// answer (frozen, or cut off silently) costs that timeout. Views holding
// no node are not usable; when no seed gives a usable view, the error
// wraps ErrNoSeed and every seed's error.
func Fetch(ctx context.Context, cfg Config) (replication.Topology, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Seeds) == 0 {
		return replication.Topology{}, fmt.Errorf("%w: no seeds configured", ErrNoSeed)
	}
	type answer struct {
		t   replication.Topology
		err error
	}
	answers := make([]answer, len(cfg.Seeds))
	done := make(chan struct{}, len(cfg.Seeds))
	rctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	for i, seed := range cfg.Seeds {
		go func() {
			t, err := get(rctx, cfg.HTTPClient, seed, 0, 0)
			answers[i] = answer{t, err}
			done <- struct{}{}
		}()
	}
	for range cfg.Seeds {
		<-done
	}
	best, errs := -1, []error(nil)
	for i, a := range answers {
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		if best < 0 || larger(a.t, answers[best].t) {
			best = i
		}
	}
	if best < 0 {
		return replication.Topology{}, fmt.Errorf("%w: %w", ErrNoSeed, errors.Join(errs...))
	}
	if len(errs) > 0 || best > 0 {
		cfg.Logger.Debug("fetched the largest view", "seed", cfg.Seeds[best], "nodes", len(answers[best].t.Nodes), "seeds_failed", len(errs))
	}
	return answers[best].t, nil
}

// larger reports whether view a beats view b: more nodes, or as many and
// a newer epoch.
func larger(a, b replication.Topology) bool {
	if len(a.Nodes) != len(b.Nodes) {
		return len(a.Nodes) > len(b.Nodes)
	}
	return a.Epoch > b.Epoch
}
