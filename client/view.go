package client

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// member is one node of a view with its node client.
type member struct {
	node replication.Node
	tn   *nodeclient.Node
	// pending counts the client's repairs of the node queued or running
	// (replication.RepairQueue.NodeCounter): reads check it first.
	pending *atomic.Int64
}

// zoneView is one zone of a view: its replication.ZonePlacement and the
// members of its rings, index-aligned with ReadNodes and WriteNodes.
type zoneView struct {
	place  *replication.ZonePlacement
	readM  []*member
	writeM []*member
}

// view is one immutable placement of the fleet. Requests load the current
// view once and finish on it even if SetTopology swaps in another.
type view struct {
	topo  replication.Topology
	order []string // read order, local zone first
	zones map[string]*zoneView
	byID  map[string]*member
	addrs []string // one per node, for releasing the transports
	// leaseZone is the zone whose replicas grant GetOrLoad's leases:
	// Config.LeaseZone, else the first zone by name with a node serving
	// reads, which every client of the same topology picks.
	leaseZone string
}

// readReplica returns the node of zone that serves reads of key.
func (v *view) readReplica(zone, key string) *member {
	z := v.zones[zone]
	if z == nil {
		return nil
	}
	i := z.place.ReadIndex(key)
	if i < 0 {
		return nil
	}
	return z.readM[i]
}

// zoneTargets appends the nodes of zone a write of key goes to
// (replication.ZonePlacement.Targets) to dst.
func (v *view) zoneTargets(dst []*member, zone, key string) []*member {
	z := v.zones[zone]
	if z == nil {
		return dst
	}
	w, r := z.place.TargetIndexes(key)
	if w >= 0 {
		dst = append(dst, z.writeM[w])
	}
	if r >= 0 {
		dst = append(dst, z.readM[r])
	}
	return dst
}

// writeTargets returns every replica a write of key goes to, zone by zone
// in read order.
func (v *view) writeTargets(key string) []*member {
	dst := make([]*member, 0, 2*len(v.order))
	for _, z := range v.order {
		dst = v.zoneTargets(dst, z, key)
	}
	return dst
}

// buildView makes a view of t placed by replication.Placement, taking a
// transport for every node in a ring from the client's registry. On error
// nothing is held.
func (cc *core) buildView(t replication.Topology) (*view, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	p, err := replication.NewPlacement(t, cc.cfg.Sharding)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	zones := p.Zones()
	v := &view{
		topo:      t,
		order:     replication.ReadOrder(zones, cc.cfg.Zone, cc.cfg.ZonePreference),
		zones:     make(map[string]*zoneView, len(zones)),
		byID:      make(map[string]*member, len(t.Nodes)),
		leaseZone: cc.cfg.LeaseZone,
	}
	for _, zn := range zones {
		zp := p.Zone(zn)
		v.zones[zn] = &zoneView{place: zp, readM: cc.members(v, zp.ReadNodes), writeM: cc.members(v, zp.WriteNodes)}
		if v.leaseZone == "" && len(zp.ReadNodes) > 0 {
			v.leaseZone = zn
		}
	}
	return v, nil
}

// members returns the members of nodes, adding to v the ones it lacks,
// each with a transport from the client's registry.
func (cc *core) members(v *view, nodes []replication.Node) []*member {
	ms := make([]*member, len(nodes))
	for i, n := range nodes {
		m := v.byID[n.ID]
		if m == nil {
			m = &member{node: n, pending: cc.repairs.NodeCounter(n.ID), tn: cc.acquire(n.Addr)}
			v.byID[n.ID] = m
			v.addrs = append(v.addrs, n.Addr)
		}
		ms[i] = m
	}
	return ms
}

// nodeEntry is a transport shared by every view that has its address.
type nodeEntry struct {
	tn   *nodeclient.Node
	refs int
}

func (cc *core) acquire(addr string) *nodeclient.Node {
	cc.nmu.Lock()
	defer cc.nmu.Unlock()
	e := cc.nodes[addr]
	if e == nil {
		e = &nodeEntry{tn: nodeclient.NewNode(addr, cc.cfg.Node)}
		cc.nodes[addr] = e
	}
	e.refs++
	return e.tn
}

// releaseView drops v's hold on its transports. A transport no view uses
// is closed after NodeGrace, so requests still running on v finish.
func (cc *core) releaseView(v *view) {
	cc.nmu.Lock()
	defer cc.nmu.Unlock()
	for _, addr := range v.addrs {
		e := cc.nodes[addr]
		if e == nil {
			continue
		}
		e.refs--
		if e.refs > 0 {
			continue
		}
		time.AfterFunc(cc.cfg.NodeGrace, func() {
			cc.nmu.Lock()
			defer cc.nmu.Unlock()
			if cc.nodes[addr] == e && e.refs == 0 {
				delete(cc.nodes, addr)
				_ = e.tn.Close()
			}
		})
	}
}
