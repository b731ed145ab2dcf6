package client

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// member is one node of a view with its node client.
type member struct {
	node replication.Node
	tn   *nodeclient.Node
	// pending counts the client's repairs of the node queued or running
	// (replication.RepairQueue.NodeCounter): reads check it first.
	pending *atomic.Int64
}

// zoneView is one zone of a view: a read ring over the nodes that serve
// reads (serving, draining) and a write ring over the nodes that take
// writes (warming, serving). Members are index-aligned with their ring.
type zoneView struct {
	name   string
	read   *sharding.Ring
	readM  []*member
	write  *sharding.Ring
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
	i := z.read.IndexString(key)
	if i < 0 {
		return nil
	}
	return z.readM[i]
}

// zoneTargets returns the nodes of zone a write of key goes to: the owner
// in the write ring and, when it differs, the owner in the read ring. The
// second covers a draining node (it serves the key's reads until it
// leaves, so it must not keep an old value) and a serving node whose key
// a warming node is taking over (reads still go to it until the warming
// node serves).
func (v *view) zoneTargets(dst []*member, zone, key string) []*member {
	z := v.zones[zone]
	if z == nil {
		return dst
	}
	var w *member
	if i := z.write.IndexString(key); i >= 0 {
		w = z.writeM[i]
		dst = append(dst, w)
	}
	if i := z.read.IndexString(key); i >= 0 && z.readM[i] != w {
		dst = append(dst, z.readM[i])
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

// buildView makes a view of t, taking a transport for every node from the
// client's registry. On error nothing is held.
func (c *core) buildView(t replication.Topology) (*view, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	zones := t.Zones()
	v := &view{
		topo:  t,
		order: replication.ReadOrder(zones, c.cfg.Zone, c.cfg.ZonePreference),
		zones: make(map[string]*zoneView, len(zones)),
		byID:  make(map[string]*member, len(t.Nodes)),
	}
	members := make(map[string]*member, len(t.Nodes))
	for _, n := range t.Nodes {
		if n.EffectiveState() == replication.Joining {
			continue
		}
		members[n.ID] = &member{node: n, pending: c.repairs.NodeCounter(n.ID)}
	}
	ring := func(nodes []replication.Node) (*sharding.Ring, []*member, error) {
		sn := make([]sharding.Node, len(nodes))
		ms := make([]*member, len(nodes))
		for i, n := range nodes {
			sn[i] = sharding.Node{ID: n.ID, Addr: n.Addr, Weight: n.EffectiveWeight()}
			ms[i] = members[n.ID]
		}
		r, err := sharding.New(sn, c.cfg.Sharding)
		return r, ms, err
	}
	for _, zn := range zones {
		z := &zoneView{name: zn}
		var err error
		if z.read, z.readM, err = ring(t.ZoneNodes(zn, replication.NodeState.ServesReads)); err != nil {
			return nil, fmt.Errorf("%w: zone %s: %w", ErrInvalidConfig, zn, err)
		}
		if z.write, z.writeM, err = ring(t.ZoneNodes(zn, replication.NodeState.TakesWrites)); err != nil {
			return nil, fmt.Errorf("%w: zone %s: %w", ErrInvalidConfig, zn, err)
		}
		v.zones[zn] = z
		if v.leaseZone == "" && len(z.readM) > 0 {
			v.leaseZone = zn
		}
	}
	if c.cfg.LeaseZone != "" {
		v.leaseZone = c.cfg.LeaseZone
	}
	for id, m := range members {
		m.tn = c.acquire(m.node.Addr)
		v.byID[id] = m
		v.addrs = append(v.addrs, m.node.Addr)
	}
	return v, nil
}

// nodeEntry is a transport shared by every view that has its address.
type nodeEntry struct {
	tn   *nodeclient.Node
	refs int
}

func (c *core) acquire(addr string) *nodeclient.Node {
	c.nmu.Lock()
	defer c.nmu.Unlock()
	e := c.nodes[addr]
	if e == nil {
		e = &nodeEntry{tn: nodeclient.NewNode(addr, c.cfg.Node)}
		c.nodes[addr] = e
	}
	e.refs++
	return e.tn
}

// releaseView drops v's hold on its transports. A transport no view uses
// is closed after NodeGrace, so requests still running on v finish.
func (c *core) releaseView(v *view) {
	c.nmu.Lock()
	defer c.nmu.Unlock()
	for _, addr := range v.addrs {
		e := c.nodes[addr]
		if e == nil {
			continue
		}
		e.refs--
		if e.refs > 0 {
			continue
		}
		time.AfterFunc(c.cfg.NodeGrace, func() {
			c.nmu.Lock()
			defer c.nmu.Unlock()
			if c.nodes[addr] == e && e.refs == 0 {
				delete(c.nodes, addr)
				_ = e.tn.Close()
			}
		})
	}
}
