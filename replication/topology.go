package replication

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
)

// NodeState is where a node is in its life cycle.
type NodeState string

// The node states, in life-cycle order.
const (
	// Joining: the node is known but takes no traffic yet.
	Joining NodeState = "joining"
	// Warming: the node takes writes and serves no reads (a write-only
	// replica).
	Warming NodeState = "warming"
	// Serving: the node takes writes and serves reads.
	Serving NodeState = "serving"
	// Draining: the node still serves reads, takes no new keys and leaves
	// after.
	Draining NodeState = "draining"
)

// Valid reports whether s is one of the known states.
func (s NodeState) Valid() bool {
	switch s {
	case Joining, Warming, Serving, Draining:
		return true
	}
	return false
}

// ServesReads reports whether reads may be sent to a node in this state.
func (s NodeState) ServesReads() bool { return s == Serving || s == Draining }

// TakesWrites reports whether writes are sent to a node in this state.
func (s NodeState) TakesWrites() bool { return s == Warming || s == Serving }

// CountsForPolicy reports whether a successful write to a node in this state
// counts toward the write policy. Write-only (warming) replicas do not.
func (s NodeState) CountsForPolicy() bool { return s == Serving }

// Node is one cache server in the topology.
type Node struct {
	// ID names the node uniquely in the fleet.
	ID string `json:"id"`
	// Zone is the availability zone the node is in.
	Zone string `json:"zone"`
	// Addr is the node's cache address, host:port.
	Addr string `json:"addr"`
	// Weight scales the node's share of its zone's keys; 0 means 1.
	Weight int `json:"weight,omitempty"`
	// State is the node's life-cycle state; empty means serving.
	State NodeState `json:"state,omitempty"`
	// NextWeight, when > 0, is the weight a reshard moves the node to: its
	// zone's write ring places keys with it and the read ring with Weight,
	// so the new owners take the writes while the old ones serve reads.
	NextWeight int `json:"next_weight,omitempty"`
}

// EffectiveWeight is Weight, or 1 when Weight is 0.
func (n Node) EffectiveWeight() int {
	if n.Weight <= 0 {
		return 1
	}
	return n.Weight
}

// WriteWeight is the node's weight in its zone's write ring: NextWeight
// when set, else EffectiveWeight.
func (n Node) WriteWeight() int {
	if n.NextWeight > 0 {
		return n.NextWeight
	}
	return n.EffectiveWeight()
}

// EffectiveState is State, or Serving when State is empty.
func (n Node) EffectiveState() NodeState {
	if n.State == "" {
		return Serving
	}
	return n.State
}

// Topology is a view of the fleet: every node of every zone, with an epoch
// that grows with every change so that a newer view can be told from an
// older one.
type Topology struct {
	// Epoch increases with every change of the fleet.
	Epoch uint64 `json:"epoch"`
	// Nodes lists every node of every zone.
	Nodes []Node `json:"nodes"`
}

// ErrInvalidTopology is wrapped by every error Validate returns.
var ErrInvalidTopology = errors.New("invalid topology")

// Validate checks that node ids are unique and non-empty, that every node
// has a zone and a host:port address, that states are known and weights are
// not negative.
func (t Topology) Validate() error {
	seen := make(map[string]bool, len(t.Nodes))
	addrs := make(map[string]string, len(t.Nodes))
	for i, n := range t.Nodes {
		switch {
		case n.ID == "":
			return fmt.Errorf("%w: node %d has no id", ErrInvalidTopology, i)
		case seen[n.ID]:
			return fmt.Errorf("%w: duplicate node id %q", ErrInvalidTopology, n.ID)
		case n.Zone == "":
			return fmt.Errorf("%w: node %q has no zone", ErrInvalidTopology, n.ID)
		case n.Weight < 0 || n.NextWeight < 0:
			return fmt.Errorf("%w: node %q has negative weight %d (next %d)", ErrInvalidTopology, n.ID, n.Weight, n.NextWeight)
		case !n.EffectiveState().Valid():
			return fmt.Errorf("%w: node %q has unknown state %q", ErrInvalidTopology, n.ID, n.State)
		}
		if _, _, err := net.SplitHostPort(n.Addr); err != nil {
			return fmt.Errorf("%w: node %q address %q: %v", ErrInvalidTopology, n.ID, n.Addr, err)
		}
		if other, dup := addrs[n.Addr]; dup {
			return fmt.Errorf("%w: nodes %q and %q share address %s", ErrInvalidTopology, other, n.ID, n.Addr)
		}
		seen[n.ID] = true
		addrs[n.Addr] = n.ID
	}
	return nil
}

// Zones returns the names of the zones that have at least one node, sorted.
func (t Topology) Zones() []string {
	set := make(map[string]bool)
	for _, n := range t.Nodes {
		set[n.Zone] = true
	}
	zones := make([]string, 0, len(set))
	for z := range set {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	return zones
}

// ZoneNodes returns the nodes of zone whose state satisfies keep, in
// topology order. A nil keep returns every node of the zone.
func (t Topology) ZoneNodes(zone string, keep func(NodeState) bool) []Node {
	var out []Node
	for _, n := range t.Nodes {
		if n.Zone == zone && (keep == nil || keep(n.EffectiveState())) {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node with the given id.
func (t Topology) Node(id string) (Node, bool) {
	for _, n := range t.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

// DecodeTopology reads a topology in JSON, as the admin CLI's topology file
// and the servers' /topology endpoint carry it, and validates it.
func DecodeTopology(r io.Reader) (Topology, error) {
	var t Topology
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return Topology{}, fmt.Errorf("%w: %v", ErrInvalidTopology, err)
	}
	if err := t.Validate(); err != nil {
		return Topology{}, err
	}
	return t, nil
}

// ReadOrder returns the zones to read from, in order: local first, then the
// zones named in preference (those that exist and are not local), then the
// remaining zones in name order. Zones that do not exist in zones are left
// out, except local, which is always first when it is in zones.
func ReadOrder(zones []string, local string, preference []string) []string {
	exists := make(map[string]bool, len(zones))
	for _, z := range zones {
		exists[z] = true
	}
	order := make([]string, 0, len(zones))
	used := make(map[string]bool, len(zones))
	add := func(z string) {
		if exists[z] && !used[z] {
			used[z] = true
			order = append(order, z)
		}
	}
	add(local)
	for _, z := range preference {
		add(strings.TrimSpace(z))
	}
	rest := append([]string(nil), zones...)
	sort.Strings(rest)
	for _, z := range rest {
		add(z)
	}
	return order
}
