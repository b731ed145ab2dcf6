package reshard_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
	"github.com/zonecache/zonecache/server"
	"github.com/zonecache/zonecache/sharding"
)

// Grow zone a from two nodes to three: plan, then copy to a-3 the items it
// takes over, before the cutover. The nodes are in-process zonecached
// servers; in production they are the fleet's.
func Example() {
	ctx := context.Background()
	cur := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a-1", Zone: "a", Addr: startNode()},
		{ID: "a-2", Zone: "a", Addr: startNode()},
	}}
	newNode := replication.Node{ID: "a-3", Zone: "a", Addr: startNode()}
	fill(ctx, cur, 1000)

	target, err := reshard.Change{Add: []replication.Node{newNode}}.Apply(cur)
	if err != nil {
		log.Fatal(err)
	}
	// Clients first load the intermediate topology (a-3 warming: it takes
	// the writes of its keys); then Ready holds and the copy may start.
	mid := reshard.Intermediate(cur, target)
	if err := reshard.Ready(mid, target); err != nil {
		log.Fatal(err)
	}
	plan, err := reshard.NewPlan(ctx, reshard.Config{Current: mid, Target: target})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range plan.Moves {
		fmt.Printf("%s -> %s: %d keys\n", m.From.ID, m.To.ID, len(m.Items))
	}
	st, err := reshard.Copy(ctx, plan, reshard.CopyConfig{Rate: 10000, Concurrency: 8})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("copied", st.Copied, "of", plan.Keys())
	// Next, the cutover: a-3 serving (target), then purge the old owners;
	// ExampleReshard does every step.

	// Output:
	// a-1 -> a-3: 179 keys
	// a-2 -> a-3: 158 keys
	// copied 337 of 337
}

// Grow zone a from two nodes to three in one call: the clients of this
// static fleet load the topology that Write publishes (in production, the
// file they read); a gossiping fleet is a GossipFleet instead. Run plans,
// has the clients write to a-3 (warming), copies, moves the reads to a-3
// while a-1 and a-2 still take writes (a-3 draining), cuts over (a-3 serving)
// and purges the moved items from a-1 and a-2. With a Checkpoint, Open
// continues an interrupted run at its step.
func ExampleReshard() {
	ctx := context.Background()
	cur := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a-1", Zone: "a", Addr: startNode()},
		{ID: "a-2", Zone: "a", Addr: startNode()},
	}}
	fill(ctx, cur, 1000)
	r, err := reshard.New(reshard.RunConfig{
		Fleet: &reshard.StaticFleet{Current: cur, Write: func(_ context.Context, step reshard.Step, t replication.Topology) error {
			fmt.Printf("%v: the clients load epoch %d (%d nodes)\n", step, t.Epoch, len(t.Nodes))
			return nil
		}},
		Change:  reshard.Change{Add: []replication.Node{{ID: "a-3", Zone: "a", Addr: startNode()}}},
		ViewLag: 10 * time.Millisecond, // how long the clients take to load it
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("done:", r.Done())

	// Output:
	// intermediate: the clients load epoch 2 (3 nodes)
	// switch: the clients load epoch 3 (3 nodes)
	// cutover: the clients load epoch 4 (3 nodes)
	// done: cleanup
}

// startNode serves an in-process zonecached on a free loopback port.
func startNode() string {
	s, err := server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	return ln.Addr().String()
}

// fill writes n keys to their owner in zone a, as clients do.
func fill(ctx context.Context, top replication.Topology, n int) {
	p, err := replication.NewPlacement(top, sharding.Config{})
	if err != nil {
		log.Fatal(err)
	}
	nodes := map[string]*nodeclient.Node{}
	for _, nd := range top.Nodes {
		nodes[nd.ID] = nodeclient.NewNode(nd.Addr, nodeclient.Config{})
		defer nodes[nd.ID].Close()
	}
	for i := range n {
		key := fmt.Sprintf("user:%d", i)
		owner, _ := p.Zone("a").ReadOwner(key)
		if err := nodes[owner.ID].Online().Set(ctx, nodeclient.Item{Key: key, Value: []byte("profile")}); err != nil {
			log.Fatal(err)
		}
	}
}
