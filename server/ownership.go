package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// Defaults of OwnershipConfig's zero fields.
const (
	// DefaultPurgeWindow covers discovery's watch delay (a long poll
	// answers at once; a client whose seed failed retries within 10 s)
	// with margin.
	DefaultPurgeWindow = 30 * time.Second
	// DefaultPurgeSweeps is the number of passes over the window after
	// the one made at the change.
	DefaultPurgeSweeps = 6
)

// TopologySource is the fleet view the ownership purge follows; a
// *membership.Member is one. Changed returns a channel closed at the next
// change of Topology.
type TopologySource interface {
	Topology() replication.Topology
	Changed() <-chan struct{}
}

// OwnershipConfig configures PurgeUnowned. Zero fields take the defaults.
type OwnershipConfig struct {
	// Self is this node's id in the topology. Required.
	Self string
	// Sharding is the clients' ring configuration (client.Config.Sharding);
	// the zero value is the client's default. With another value than the
	// clients', the purge drops keys the node owns: misses, not stale
	// reads.
	Sharding sharding.Config
	// Window is how long after a change the purge runs again, for writes
	// sent by clients whose view still lags the fleet's. Default
	// DefaultPurgeWindow (30 s).
	Window time.Duration
	// Sweeps is how many passes run, evenly spaced over Window, after the
	// one made at the change. Default DefaultPurgeSweeps (6).
	Sweeps int
}

// ErrNoSelf is returned by PurgeUnowned when OwnershipConfig.Self is empty.
var ErrNoSelf = errors.New("server: ownership purge needs the node's id")

// PurgeUnowned keeps the store free of keys this node does not own, until
// ctx ends. A node owns a key when, in its zone of the topology src gives,
// it is the key's read owner or write owner (replication.Placement). At
// every change of its zone, and then Sweeps more times over Window, it
// removes the items it does not own now, and at the change also those it
// did not own in the previous view: a key coming back to this node may
// have been updated elsewhere meanwhile, so the copy held from before is
// older than those updates, and a write that reached this node while it
// was not the owner (a client with a lagging view) is not kept either.
// A view in which this node is in no ring of its zone (joining, or not
// yet in its own view) or is its zone's only owner changes nothing. The
// purge works a chunk of the store at a time, so reads are not blocked;
// it counts removed items in zonecache_server_purged_items_total.
func (s *Server) PurgeUnowned(ctx context.Context, src TopologySource, cfg OwnershipConfig) error {
	if cfg.Self == "" {
		return ErrNoSelf
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultPurgeWindow
	}
	if cfg.Sweeps <= 0 {
		cfg.Sweeps = DefaultPurgeSweeps
	}
	o := &ownership{s: s, cfg: cfg, log: s.log.With("component", "ownership"), wake: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Go(func() { o.watch(ctx, src) })
	o.run(ctx)
	wg.Wait()
	return ctx.Err()
}

// ownershipStats counts PurgeUnowned's passes and the items they removed.
type ownershipStats struct {
	passes, purged atomic.Int64
}

// ownership is the state of one PurgeUnowned.
type ownership struct {
	s    *Server
	cfg  OwnershipConfig
	log  *slog.Logger
	wake chan struct{} // a view was queued

	mu      sync.Mutex
	pending []view // views seen since the last pass, oldest first
}

// view is this node's zone in one topology.
type view struct {
	epoch uint64
	zone  *replication.ZonePlacement
}

// watch queues every usable view of this node's zone that differs from the
// one before. It only takes snapshots, so that it sees each change even
// while a pass is running.
func (o *ownership) watch(ctx context.Context, src TopologySource) {
	var last []replication.Node
	for {
		changed := src.Changed()
		t := src.Topology()
		if v, nodes, ok := o.usable(t); ok && !slices.Equal(nodes, last) {
			last = nodes
			o.queue(v)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// maxPending bounds the views queued while a pass runs (each is a few
// kilobytes). Only a zone changing hundreds of times during one pass fills
// it; the oldest queued view is then dropped, with a warning.
const maxPending = 1024

// queue adds v to the views the next pass checks and wakes run.
func (o *ownership) queue(v view) {
	o.mu.Lock()
	if len(o.pending) == maxPending {
		o.log.Warn("too many topology changes queued for the ownership purge; dropping the oldest", "epoch", o.pending[0].epoch)
		o.pending = append(o.pending[:0], o.pending[1:]...)
	}
	o.pending = append(o.pending, v)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// usable returns this node's zone in t, with the zone's nodes, when t puts
// this node in a ring of its zone beside another owner.
func (o *ownership) usable(t replication.Topology) (view, []replication.Node, bool) {
	self, ok := t.Node(o.cfg.Self)
	if !ok {
		return view{}, nil, false
	}
	nodes := t.ZoneNodes(self.Zone, nil)
	p, err := replication.NewPlacement(replication.Topology{Nodes: nodes}, o.cfg.Sharding)
	if err != nil {
		o.log.Warn("cannot place keys in this view; not purging", "epoch", t.Epoch, "err", err)
		return view{}, nil, false
	}
	z := p.Zone(self.Zone)
	if !z.InRing(self.ID) || !hasOtherOwner(z, self.ID) {
		return view{}, nil, false
	}
	return view{epoch: t.Epoch, zone: z}, nodes, true
}

func hasOtherOwner(z *replication.ZonePlacement, self string) bool {
	for _, ns := range [][]replication.Node{z.ReadNodes, z.WriteNodes} {
		for _, n := range ns {
			if n.ID != self {
				return true
			}
		}
	}
	return false
}

// run makes a pass at every queued change and the sweeps after it.
func (o *ownership) run(ctx context.Context) {
	var cur *view
	every := o.cfg.Window / time.Duration(o.cfg.Sweeps)
	sweep := time.NewTimer(every)
	sweep.Stop()
	defer sweep.Stop()
	left := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
			o.mu.Lock()
			views := o.pending
			o.pending = nil
			o.mu.Unlock()
			if len(views) == 0 {
				continue
			}
			if cur != nil {
				views = append([]view{*cur}, views...)
			}
			o.pass(ctx, views, "topology changed")
			cur = &views[len(views)-1]
			left = o.cfg.Sweeps
			sweep.Reset(every)
		case <-sweep.C:
			o.pass(ctx, []view{*cur}, fmt.Sprintf("sweep %d of %d after the change", o.cfg.Sweeps-left+1, o.cfg.Sweeps))
			if left--; left > 0 {
				sweep.Reset(every)
			}
		}
	}
}

// pass removes the items this node does not hold in some of views (the
// last is the current one), and those whose reads it served in an earlier
// view but which a draining node (or none) serves in the current one: it
// still holds them only as the write owner beside that node, which must
// have served them in a view this node did not see, one where it was no
// target of their writes. When a serving node reads the key now, this
// node gave its reads away itself (a reshard's leaving node, warming at
// the switch): it took every write meanwhile, and clients whose view lags
// still read it, so it keeps the key.
func (o *ownership) pass(ctx context.Context, views []view, why string) {
	start := time.Now()
	self := o.cfg.Self
	cur := views[len(views)-1].zone
	n, err := o.s.store.Purge(ctx, func(key []byte) bool {
		for _, v := range views {
			if !v.zone.Holds(self, key) {
				return true
			}
		}
		if cur.IsReadOwner(self, key) {
			return false
		}
		if r, ok := cur.ReadOwner(unsafe.String(unsafe.SliceData(key), len(key))); ok && r.EffectiveState() != replication.Draining {
			return false
		}
		for _, v := range views[:len(views)-1] {
			if v.zone.IsReadOwner(self, key) {
				return true
			}
		}
		return false
	})
	o.s.own.purged.Add(int64(n))
	o.s.own.passes.Add(1)
	lvl := slog.LevelDebug
	if n > 0 || len(views) > 1 {
		lvl = slog.LevelInfo
	}
	o.log.Log(ctx, lvl, "purged items this node does not own", "items", n, "why", why,
		"epoch", views[len(views)-1].epoch, "views", len(views), "took", time.Since(start).Round(time.Microsecond), "err", err)
}
