package main

import (
	"testing"

	"github.com/zonecache/zonecache/replication"
)

// TestLeaveState: what a node advertises before it leaves. Only a node
// that serves reads changes state, and only the one draining node of a
// zone hands its reads over (warming): with two draining, one warming
// would send its reads to the other, which those keys' writes miss.
func TestLeaveState(t *testing.T) {
	node := func(id, zone string, st replication.NodeState) replication.Node {
		return replication.Node{ID: id, Zone: zone, Addr: id + ":11211", State: st}
	}
	fleet := func(a3, a4, d1 replication.NodeState) replication.Topology {
		return replication.Topology{Nodes: []replication.Node{node("a-1", "a", replication.Serving),
			node("a-3", "a", a3), node("a-4", "a", a4), node("d-1", "d", d1)}}
	}
	for _, c := range []struct {
		top  replication.Topology
		self string
		want replication.NodeState
	}{
		{fleet(replication.Serving, replication.Serving, replication.Serving), "a-3", replication.Draining},
		{fleet(replication.Draining, replication.Serving, replication.Serving), "a-3", replication.Warming},
		{fleet(replication.Draining, replication.Draining, replication.Serving), "a-3", ""},
		{fleet(replication.Draining, replication.Warming, replication.Serving), "a-3", replication.Warming},
		{fleet(replication.Warming, replication.Serving, replication.Serving), "a-3", ""},
		{fleet(replication.Joining, replication.Serving, replication.Serving), "a-3", ""},
		{fleet(replication.Serving, replication.Serving, replication.Warming), "d-1", ""}, // a removed zone's node
	} {
		self, _ := c.top.Node(c.self)
		if got := leaveState(c.top, self); got != c.want {
			t.Errorf("%s in %v: %q, want %q", c.self, c.top.Nodes, got, c.want)
		}
	}
}
