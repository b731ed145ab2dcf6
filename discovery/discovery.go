package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/replication"
)

// ErrNoSeed is wrapped by Fetch's error when no seed returned a usable
// topology.
var ErrNoSeed = errors.New("discovery: no seed returned a topology")

// Config configures Fetch and Watch. Zero fields take their defaults.
type Config struct {
	// Seeds are admin HTTP addresses (host:port, or URLs) of servers that
	// answer /topology. At least one is required.
	Seeds []string
	// Wait is how long one watch request may wait for a change. Default 30 s.
	Wait time.Duration
	// RetryMin and RetryMax bound the backoff after a failed request: it
	// doubles from RetryMin to RetryMax, and each wait is drawn uniformly
	// from half to all of its step (equal jitter), so that clients that
	// lost a seed together do not retry it in step. Defaults 200 ms, 10 s.
	RetryMin, RetryMax time.Duration
	// RequestTimeout bounds a plain fetch. Default 5 s.
	RequestTimeout time.Duration
	// HTTPClient makes the requests. Default: a client with no overall
	// timeout (each request is bounded by its context).
	HTTPClient *http.Client
	// Logger receives changes and failures. Default slog.Default().
	Logger *slog.Logger
	// Registerer, if not nil, receives Watch's metric
	// zonecache_discovery_held_topologies_total: views held back as
	// unconfirmed shrinks (see Watch).
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() Config {
	if c.Wait <= 0 {
		c.Wait = 30 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 200 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(10*time.Second, c.RetryMin)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Watch follows the fleet's topology until ctx ends. It calls apply with
// every topology that differs from the last one applied (starting from
// initial, which may be the zero Topology), from one goroutine, in order,
// with strictly increasing epochs (raised above the last one applied when
// a seed's own count is lower), so that (*client.Client).SetTopology never
// refuses a newer view as stale.
// It long-polls one seed at a time and moves to the next seed on failure,
// backing off between rounds of failures; meanwhile the last topology stays
// in force. A seed that answers at once with nothing new (one that does not
// long-poll) is asked again every RetryMin (with jitter).
//
// When apply returns an error (the client refused the view, say), the
// topology does not count as applied: the error is logged, the last applied
// topology stays the reference, and Watch asks a seed again after a backoff
// (RetryMin, doubling up to RetryMax) and offers the newest view again,
// until apply accepts one.
//
// A view that shrinks the fleet too much is not taken on one seed's word.
// A seed restarted as a fresh standalone node, or one cut off from the
// others, serves a view of itself alone (or of a small minority), and a
// client that followed it would drop most of the fleet at once. So when a
// view, compared with the last applied one, removes more than half of the
// nodes serving reads (serving or draining; a node that is gone or back to
// joining or warming no longer serves reads), Watch asks every other seed
// at once for its view, and applies the view only when one of them also
// lacks every removed node as a reader. A smaller view change that leaves
// a zone that had a node serving reads with none is checked the same way
// but applies unless a seed that answered disagrees (still lists a removed
// node as a reader): with one node per zone, or the only other seed in the
// lost zone, nothing might ever confirm a real node death. The rule
// compares node ids and states, never epochs, so seeds whose epoch clocks
// differ cannot fool it. A view held back is logged at warn, counted in
// zonecache_discovery_held_topologies_total, and the last view stays in
// force; Watch moves to a seed that disagreed (else the next one) and,
// after a backoff (RetryMin, doubling up to RetryMax), checks again, so a
// shrink that is real applies as soon as a second seed sees it. Other
// changes (a node dying, joining or draining) apply at once. With a single
// seed nothing can confirm a shrink of more than half, and it is held for
// as long as the watch runs: a client keeps a stale view (whose dead nodes
// its breakers fail fast) rather than risk following a lone, restarted
// seed to an empty one. Configure two seeds or more, in different zones.
// The guard trusts one other seed: two seeds restarted standalone at the
// same moment, or cut off together, can confirm each other. Fetch, which
// has no last view to compare with, takes the largest view any seed
// serves instead. A topology with no nodes is never applied.
//
// It returns ctx's error, or an error if Registerer refuses the metric.
func Watch(ctx context.Context, cfg Config, initial replication.Topology, apply func(replication.Topology) error) error {
	cfg = cfg.withDefaults()
	if len(cfg.Seeds) == 0 {
		return fmt.Errorf("%w: no seeds configured", ErrNoSeed)
	}
	held, err := heldCounter(cfg.Registerer)
	if err != nil {
		return err
	}
	w := &watch{
		cfg: cfg, log: cfg.Logger.With("component", "discovery"), held: held, apply: apply, last: initial,
		failed:  backoff.Exp{Min: cfg.RetryMin, Max: cfg.RetryMax},
		refused: backoff.Exp{Min: cfg.RetryMin, Max: cfg.RetryMax},
		holding: backoff.Exp{Min: cfg.RetryMin, Max: cfg.RetryMax},
	}
	for ctx.Err() == nil {
		w.round(ctx)
	}
	return ctx.Err()
}

// watch is the state of one Watch.
type watch struct {
	cfg   Config
	log   *slog.Logger
	held  prometheus.Counter
	apply func(replication.Topology) error

	last     replication.Topology // the last topology applied
	seed     int                  // index in cfg.Seeds of the seed asked
	after    uint64               // epoch of the last answer from that seed
	failures int                  // failed requests in a row

	failed  backoff.Exp // after failed requests
	refused backoff.Exp // after topologies apply refused
	holding backoff.Exp // after unconfirmed shrinks
}

// round asks the current seed once (a long poll) and acts on its answer;
// it may wait a backoff. A wait cut short by ctx ends the round.
func (w *watch) round(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Wait+w.cfg.RequestTimeout)
	asked := time.Now()
	t, err := get(rctx, w.cfg.HTTPClient, w.cfg.Seeds[w.seed], w.after, w.cfg.Wait)
	cancel()
	if err != nil {
		w.fail(ctx, err)
		return
	}
	w.failures = 0
	w.failed.Reset()
	prev := w.after
	w.after = t.Epoch
	if !sameNodes(t, w.last) {
		var ok bool
		if t, ok = w.take(ctx, t); !ok {
			return
		}
	}
	w.holding.Reset()
	if prev != 0 && t.Epoch <= prev && time.Since(asked) < w.cfg.Wait/2 {
		// Nothing new, answered at once: the seed does not long-poll
		// (a static topology file, say). Poll it every RetryMin
		// (with jitter) rather than in a busy loop.
		_ = backoff.Sleep(ctx, backoff.Jitter(w.cfg.RetryMin))
	}
}

// fail moves to the next seed after a failed request, backing off once
// every seed has failed once more.
func (w *watch) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	w.failures++
	w.log.Warn("topology watch failed; keeping the last topology", "seed", w.cfg.Seeds[w.seed], "err", err)
	w.moveTo((w.seed + 1) % len(w.cfg.Seeds))
	if w.failures%len(w.cfg.Seeds) == 0 { // every seed failed once more: back off
		_ = backoff.Sleep(ctx, w.failed.Next())
	}
}

// moveTo makes seed the one asked next, from scratch.
func (w *watch) moveTo(seed int) {
	w.seed, w.after = seed, 0
}

// take applies t, a view whose nodes differ from the last one applied,
// once confirmed when it shrinks the fleet too much. It returns t as
// applied (its epoch raised above the last one's if need be), or false
// when t was held back or refused (after a backoff).
func (w *watch) take(ctx context.Context, t replication.Topology) (replication.Topology, bool) {
	if !w.confirmed(ctx, t) {
		return t, false
	}
	w.log.Info("topology changed", "seed", w.cfg.Seeds[w.seed], "epoch", t.Epoch, "nodes", len(t.Nodes))
	if t.Epoch <= w.last.Epoch {
		// Seeds count epochs on their own clocks: a seed that saw the
		// last change earlier than another reports a lower epoch for a
		// newer view. What is applied must still look newer to the client.
		t.Epoch = w.last.Epoch + 1
	}
	if err := w.apply(t); err != nil {
		// Not applied: keep last, ask again at once after a backoff
		// rather than waiting for the next change.
		w.log.Warn("topology refused; will retry", "seed", w.cfg.Seeds[w.seed], "epoch", t.Epoch, "nodes", len(t.Nodes), "err", err)
		w.after = 0
		_ = backoff.Sleep(ctx, w.refused.Next())
		return t, false
	}
	w.last = t
	w.refused.Reset()
	return t, true
}

// confirmed reports whether t may be applied: it does not shrink the fleet
// enough to need a second seed's word, or another seed confirms it. A view
// held back is counted and logged, and the watch moves to a seed that
// disagreed (else the next) after a backoff.
func (w *watch) confirmed(ctx context.Context, t replication.Topology) bool {
	s := shrinkOf(w.last, t)
	if !s.needsConfirmation() {
		return true
	}
	by, disagreed := confirm(ctx, w.cfg, w.seed, s)
	if !s.held(by, disagreed) {
		confirmedBy := "none answered"
		if by >= 0 {
			confirmedBy = w.cfg.Seeds[by]
		}
		w.log.Info("topology shrink applied", "seed", w.cfg.Seeds[w.seed], "confirmed_by", confirmedBy,
			"lost", s.lost, "emptied_zones", s.emptied)
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	w.held.Inc()
	w.log.Warn("topology shrink held back: no other seed confirms it; keeping the last topology",
		"seed", w.cfg.Seeds[w.seed], "epoch", t.Epoch, "nodes", len(t.Nodes),
		"lost", s.lost, "emptied_zones", s.emptied, "serving", s.serving)
	if disagreed >= 0 {
		w.moveTo(disagreed)
	} else {
		w.moveTo((w.seed + 1) % len(w.cfg.Seeds))
	}
	_ = backoff.Sleep(ctx, w.holding.Next())
	return false
}

// get asks seed for its topology; with wait > 0 it is a watch that returns
// when the seed's epoch passes after, or after wait.
func get(ctx context.Context, hc *http.Client, seed string, after uint64, wait time.Duration) (replication.Topology, error) {
	c := admin.Client{Addr: seed, HTTPClient: hc}
	var t replication.Topology
	var err error
	if wait > 0 {
		t, err = c.WatchTopology(ctx, after, wait)
	} else {
		t, err = c.Topology(ctx)
	}
	if err != nil {
		return replication.Topology{}, err
	}
	if len(t.Nodes) == 0 {
		return replication.Topology{}, fmt.Errorf("discovery: %s: topology has no nodes", seed)
	}
	return t, nil
}

// sameNodes reports whether two topologies list the same nodes; epochs from
// different seeds are not comparable, contents are.
func sameNodes(a, b replication.Topology) bool { return reflect.DeepEqual(a.Nodes, b.Nodes) }
