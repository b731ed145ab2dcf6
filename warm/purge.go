package warm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// PurgeConfig describes one purge of the keys nodes do not own: what a
// gossiping zonecached does by itself at every topology change
// (server.PurgeUnowned), for fleets without gossip (stock memcached, or
// zonecached with a static topology). Zero fields take the defaults.
type PurgeConfig struct {
	// Topology is the fleet as the clients now see it. Required.
	Topology replication.Topology
	// Nodes are the ids of the nodes to purge; empty means every node.
	Nodes []string
	// Sharding is the clients' ring configuration (zero value: the
	// client's default).
	Sharding sharding.Config
	// Concurrency bounds the deletes in flight per node (default 16).
	Concurrency int
	// DialTimeout bounds connecting to a node for its dump (default 2 s).
	DialTimeout time.Duration
	// Node configures the connections to the nodes; only their Batch
	// pools are used. Zero: nodeclient's defaults. Its TLS also serves
	// the dumps.
	Node nodeclient.Config
}

// PurgeStats counts what a purge did.
type PurgeStats struct {
	// Nodes is the number of nodes purged; Skipped those left alone
	// because they are in no ring of their zone or its only owner.
	Nodes, Skipped int
	// Scanned is the number of items listed by the nodes' dumps.
	Scanned int64
	// Deleted is the number of items deleted: their node does not own
	// them.
	Deleted int64
	// Kept counts the items their node owns; Expired those expired.
	Kept, Expired int64
	// Errors counts items that could not be parsed or deleted.
	Errors int64
}

// String formats the stats on one line.
func (s PurgeStats) String() string {
	return fmt.Sprintf("nodes=%d skipped=%d scanned=%d deleted=%d kept=%d expired=%d errors=%d",
		s.Nodes, s.Skipped, s.Scanned, s.Deleted, s.Kept, s.Expired, s.Errors)
}

// Purge deletes from each node the items it does not hold under cfg.Topology
// (replication.ZonePlacement.Holds), so that ownership coming back finds no
// old copy. Run it once every client uses the topology, and again after
// their view lag. A node in no ring of its zone, or its zone's only owner, is
// skipped. The error joins the failed nodes' errors and ctx's.
func Purge(ctx context.Context, cfg PurgeConfig) (PurgeStats, error) {
	p, err := replication.NewPlacement(cfg.Topology, cfg.Sharding)
	if err != nil {
		return PurgeStats{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	var st PurgeStats
	var c counters
	var errs []error
	for _, n := range cfg.Topology.Nodes {
		if len(cfg.Nodes) > 0 && !slices.Contains(cfg.Nodes, n.ID) {
			continue
		}
		z := p.Zone(n.Zone)
		if !z.InRing(n.ID) || onlyOwner(z, n.ID) {
			st.Skipped++
			continue
		}
		st.Nodes++
		if err := purgeNode(ctx, cfg, n, z, &c); err != nil {
			errs = append(errs, fmt.Errorf("warm: purge %s (%s): %w", n.ID, n.Addr, err))
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
	}
	st.Scanned, st.Deleted, st.Kept = c.scanned.Load(), c.copied.Load(), c.notOwned.Load()
	st.Expired, st.Errors = c.expired.Load(), c.errs.Load()
	return st, errors.Join(errs...)
}

// purgeNode deletes from n the dumped keys it does not hold; c.copied
// counts the deletes.
func purgeNode(ctx context.Context, cfg PurgeConfig, n replication.Node, z *replication.ZonePlacement, c *counters) error {
	unowned := func(key string) bool { return !z.HoldsString(n.ID, key) }
	keys, err := dumpKeys(ctx, n.Addr, nodeclient.Config{DialTimeout: cfg.DialTimeout, TLS: cfg.Node.TLS, Auth: cfg.Node.Auth}, time.Now(), unowned, c)
	if len(keys) == 0 {
		return err
	}
	tn := nodeclient.NewNode(n.Addr, cfg.Node)
	defer tn.Close()
	fanOut(ctx, cfg.Concurrency, keys, nil, func(k dumpEntry) {
		switch err := tn.Batch().Delete(ctx, k.key); {
		case err == nil, errors.Is(err, nodeclient.ErrNotFound):
			c.copied.Add(1)
		default:
			c.errs.Add(1)
		}
	})
	return err
}

func onlyOwner(z *replication.ZonePlacement, id string) bool {
	for _, ns := range [][]replication.Node{z.ReadNodes, z.WriteNodes} {
		for _, n := range ns {
			if n.ID != id {
				return false
			}
		}
	}
	return true
}
