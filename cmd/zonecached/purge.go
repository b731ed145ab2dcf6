package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/zonecache/zonecache/membership"
	"github.com/zonecache/zonecache/server"
	"github.com/zonecache/zonecache/sharding"
)

// purgeOptions are the flags of the ownership purge (server.PurgeUnowned)
// and the ring configuration it must share with the clients.
type purgeOptions struct {
	enabled bool
	window  time.Duration
	sweeps  int
	hash    string
	points  int
	probes  int
	hashTag string
}

func (p *purgeOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&p.enabled, "purge-unowned", true, "in a fleet, remove the keys this node does not own (neither their read nor their write owner in its zone) at every topology change and over --purge-window after it, so that ownership moving back never serves an old copy")
	fs.DurationVar(&p.window, "purge-window", server.DefaultPurgeWindow, "how long after a topology change the purge sweeps again, for writes from clients whose view lags (discovery's watch delay)")
	fs.IntVar(&p.sweeps, "purge-sweeps", server.DefaultPurgeSweeps, "`number` of sweeps, evenly spaced over --purge-window, after the pass made at a change")
	fs.StringVar(&p.hash, "ring-hash", "xxhash", "the clients' ring hash (client.Config.Sharding.Mode): xxhash, ketama or ketama-evcache; the purge places keys as they do")
	fs.IntVar(&p.points, "ring-points", 0, "the clients' ring points per node (0: their default, 160)")
	fs.IntVar(&p.probes, "ring-probes", 0, "the clients' ring probes per key in xxhash mode (0: their default, 2)")
	fs.StringVar(&p.hashTag, "ring-hash-tag", "", "the clients' ring hash-tag delimiter (empty: none)")
}

// sharding checks the flags and returns the ring configuration.
func (p purgeOptions) sharding() (sharding.Config, error) {
	cfg := sharding.Config{PointsPerNode: p.points, Probes: p.probes, HashTagDelimiter: p.hashTag}
	switch p.hash {
	case "xxhash":
		cfg.Mode = sharding.HashXX
	case "ketama":
		cfg.Mode = sharding.HashKetama
	case "ketama-evcache":
		cfg.Mode = sharding.HashKetamaEVCache
	default:
		return cfg, fmt.Errorf("--ring-hash %q: want xxhash, ketama or ketama-evcache", p.hash)
	}
	if p.window <= 0 || p.sweeps <= 0 {
		return cfg, fmt.Errorf("--purge-window %v and --purge-sweeps %d: must be positive", p.window, p.sweeps)
	}
	if _, err := sharding.New(nil, cfg); err != nil {
		return cfg, fmt.Errorf("ring flags: %w", err)
	}
	return cfg, nil
}

// startPurge runs the ownership purge of a fleet node until ctx ends. A
// standalone node (m nil) never purges: it has no topology to own keys in.
func startPurge(ctx context.Context, srv *server.Server, m *membership.Member, p purgeOptions, self string, log *slog.Logger) {
	if m == nil || !p.enabled {
		return
	}
	ring, _ := p.sharding() // checked by parseFlags
	cfg := server.OwnershipConfig{Self: self, Sharding: ring, Window: p.window, Sweeps: p.sweeps}
	log.Info("ownership purge on", "window", p.window, "sweeps", p.sweeps, "ring", p.hash)
	go func() { _ = srv.PurgeUnowned(ctx, m, cfg) }()
}
