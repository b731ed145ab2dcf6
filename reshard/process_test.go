package reshard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// memcachedFleet starts stock memcached nodes a-1, a-2, b-1, b-2 (the
// current static topology) and spares, nodes of the same kind not in it.
func memcachedFleet(t *testing.T, spares ...string) (replication.Topology, map[string]replication.Node) {
	t.Helper()
	f, err := fleet.Start(context.Background(), fleet.Config{Binary: testproc.RequireMemcached(t), Memcached: true, Zones: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	cur := f.Topology()
	extra := map[string]replication.Node{}
	for _, id := range spares {
		p := testproc.StartMemcached(t)
		extra[id] = replication.Node{ID: id, Zone: id[:1], Addr: p.Addr}
	}
	return cur, extra
}

// fill writes n keys to their read owner in every zone of top: every 10th
// with 20 s to live (within the default SkipExpiring), every 7th with an
// hour; and, as strays, the first 20 keys to a node of zone a that does
// not own them, with the value "stray".
func fill(t *testing.T, top replication.Topology, n int) {
	t.Helper()
	ctx := context.Background()
	p, err := replication.NewPlacement(top, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*nodeclient.Node{}
	for _, nd := range top.Nodes {
		nodes[nd.ID] = nodeclient.NewNode(nd.Addr, nodeclient.Config{})
		defer nodes[nd.ID].Close()
	}
	set := func(id string, it nodeclient.Item) {
		if err := nodes[id].Online().Set(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		it := nodeclient.Item{Key: fmt.Sprintf("rs:%d", i), Value: fmt.Appendf(nil, "v%d", i)}
		switch {
		case i%10 == 0:
			it.TTL = 20
		case i%7 == 0:
			it.TTL = 3600
		}
		for _, z := range top.Zones() {
			owner, _ := p.Zone(z).ReadOwner(it.Key)
			set(owner.ID, it)
		}
		if i < 20 {
			owner, _ := p.Zone("a").ReadOwner(it.Key)
			other := p.Zone("a").ReadNodes[0]
			if other.ID == owner.ID {
				other = p.Zone("a").ReadNodes[1]
			}
			set(other.ID, nodeclient.Item{Key: it.Key, Value: []byte("stray")})
		}
	}
}

func TestPlanOnAStockMemcachedFleet(t *testing.T) {
	const n = 2000
	cur, spare := memcachedFleet(t, "a-3", "c-1", "c-2")
	fill(t, cur, n)
	grow, err := Change{Add: []replication.Node{spare["a-3"]}, Weights: map[string]int{"b-2": 2}}.Apply(cur)
	if err != nil {
		t.Fatal(err)
	}
	addZone, err := Change{Add: []replication.Node{spare["c-1"], spare["c-2"]}}.Apply(cur)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tgt  replication.Topology
		from string
	}{{"grow a, weigh b", grow, ""}, {"add zone c from b", addZone, "b"}} {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPlan(context.Background(), Config{Current: cur, Target: c.tgt, FromZone: c.from})
			if err != nil {
				t.Fatal(err)
			}
			got, want := gotMoves(t, p), wantMoves(t, cur, c.tgt, c.from, liveKeys("rs:%d", n))
			if len(want) == 0 || !maps.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("plan moves %d keys, placement %d; differ", len(got), len(want))
			}
			strays := int64(20) // zone a is dumped when it changes
			if c.from != "" {
				strays = 0
			}
			st := p.Stats
			if st.Stray != strays || st.Expiring == 0 || st.Malformed != 0 || st.Moving != p.Keys() {
				t.Fatalf("stats %+v: want %d strays, some expiring, %d moving", st, strays, p.Keys())
			}
			if p.Bytes() < p.Keys()*50 {
				t.Fatalf("%d bytes for %d keys: sizes not read", p.Bytes(), p.Keys())
			}
			t.Logf("%d moves, %d keys, %d bytes, %+v", len(p.Moves), p.Keys(), p.Bytes(), st)
		})
	}
}

func TestPlanRefusesADeadSourceNode(t *testing.T) {
	cur, spare := memcachedFleet(t, "a-3")
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	cur.Nodes[1].Addr = dead.Addr().String() // a-2 listed, not answering
	dead.Close()
	tgt, err := Change{Add: []replication.Node{spare["a-3"]}}.Apply(cur)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewPlan(context.Background(), Config{Current: cur, Target: tgt})
	if !errors.Is(err, ErrUnsettled) || !strings.Contains(err.Error(), "a-2") {
		t.Fatalf("plan with a-2 dead: %v, want ErrUnsettled naming a-2", err)
	}
}
