// Package fleetreshard gives a local fleet (package internal/fleet) to
// package reshard, as the reshard demo (zonebench) and the consistency
// checker's reshard-kill fault drive it. It is apart from internal/fleet
// because the tests of reshard and warm start fleets themselves.
package fleetreshard

import (
	"context"
	"time"

	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
)

// GossipFleet is f, a gossiping fleet, as a reshard.GossipFleet: the
// running nodes' admin addresses as seeds, node states set through every
// node's admin endpoint with the fleet's token, and a node a cutover
// removes stopped with SIGTERM (it hands its reads over, leaves the
// gossip, drains), waited for up to stopTimeout.
func GossipFleet(f *fleet.Fleet, stopTimeout time.Duration) *reshard.GossipFleet {
	g := &reshard.GossipFleet{Admin: map[string]string{}, Stop: func(_ context.Context, n replication.Node) error {
		return f.StopNode(n.ID, stopTimeout)
	}}
	for _, n := range f.Nodes() {
		if n.Running() {
			g.Seeds = append(g.Seeds, n.AdminAddr)
		}
		g.Admin[n.ID], g.AdminToken = n.AdminAddr, n.AdminToken
	}
	return g
}

// Waiting is a reshard.Fleet whose changes count as applied once Wait
// returns: a run that knows all its clients waits until every one uses
// the new topology, where an operator, who does not, waits
// reshard.RunConfig.ViewLag.
type Waiting struct {
	*reshard.GossipFleet
	// Wait returns once every client uses t, or an error.
	Wait func(ctx context.Context, t replication.Topology) error
}

// Apply applies t to the fleet, then waits for the clients (Wait).
func (f Waiting) Apply(ctx context.Context, step reshard.Step, t replication.Topology, say func(string)) error {
	if err := f.GossipFleet.Apply(ctx, step, t, say); err != nil {
		return err
	}
	return f.Wait(ctx, t)
}
