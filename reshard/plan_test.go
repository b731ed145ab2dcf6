package reshard

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
	"github.com/zonecache/zonecache/warm"
)

var planNow = time.Unix(1_800_000_000, 0)

func node(id string, weight int) replication.Node {
	return replication.Node{ID: id, Zone: id[:1], Addr: "127.0.0.1:" + fmt.Sprint(1000+len(id)*100+int(id[0])*10+int(id[len(id)-1]-'0')), Weight: weight}
}

func topo(epoch uint64, ids ...string) replication.Topology {
	t := replication.Topology{Epoch: epoch}
	for _, id := range ids {
		t.Nodes = append(t.Nodes, node(id, 0))
	}
	return t
}

// item is the dumped item of key i: hotter as i grows, 100+i bytes; every
// 10th expires within the skip threshold, every 7th an hour later.
func item(i int) warm.Item {
	it := warm.Item{Key: fmt.Sprintf("k%d", i), Exp: -1, LastAccess: planNow.Unix() - 10000 + int64(i), Size: int64(100 + i)}
	switch {
	case i%10 == 0:
		it.Exp = planNow.Unix() + 5
	case i%7 == 0:
		it.Exp = planNow.Unix() + 3600
	}
	return it
}

// planFor feeds the planner each of n items from its read owner in every
// zone of cur, plus one stray copy of each of the first 10 on another node.
func planFor(t *testing.T, cfg Config, n int) *Plan {
	t.Helper()
	p, err := newPlanner(cfg, planNow)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := replication.NewPlacement(cfg.Current, sharding.Config{})
	for _, src := range p.sources() {
		for i := range n {
			owner, _ := cur.Zone(src.Zone).ReadOwner(item(i).Key)
			if owner.ID == src.ID || i < 10 {
				p.observe(src, item(i))
			}
		}
	}
	return p.plan()
}

// wantMoves is, per key, the moves "zone from>to" that the placements of
// cur and tgt call for.
func wantMoves(t *testing.T, cur, tgt replication.Topology, from string, keys []string) map[string][]string {
	t.Helper()
	cp, _ := replication.NewPlacement(cur, sharding.Config{})
	tp, _ := replication.NewPlacement(tgt, sharding.Config{})
	out := map[string][]string{}
	for _, k := range keys {
		for _, z := range tgt.Zones() {
			src := z
			if !slices.Contains(cur.Zones(), z) {
				src = from
			}
			a, _ := cp.Zone(src).ReadOwner(k)
			if b, _ := tp.Zone(z).ReadOwner(k); a.ID != b.ID {
				out[k] = append(out[k], z+" "+a.ID+">"+b.ID)
			}
		}
	}
	return out
}

// liveKeys names the keys i < n (format's %d) not expiring within the
// default threshold: all but every 10th.
func liveKeys(format string, n int) []string {
	var out []string
	for i := range n {
		if i%10 != 0 {
			out = append(out, fmt.Sprintf(format, i))
		}
	}
	return out
}

func gotMoves(t *testing.T, p *Plan) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, m := range p.Moves {
		var bytes int64
		for j, it := range m.Items {
			out[it.Key] = append(out[it.Key], m.Zone+" "+m.From.ID+">"+m.To.ID)
			bytes += it.Size
			if j > 0 && it.LastAccess > m.Items[j-1].LastAccess {
				t.Fatalf("move %s>%s: %s after a colder item", m.From.ID, m.To.ID, it.Key)
			}
		}
		if bytes != m.Bytes || len(m.Items) == 0 {
			t.Fatalf("move %s>%s: %d items, bytes %d, want %d", m.From.ID, m.To.ID, len(m.Items), m.Bytes, bytes)
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

func TestPlanMovesExactlyTheKeysWhoseOwnerChanges(t *testing.T) {
	const n = 3000
	cur := topo(7, "a-1", "a-2", "b-1", "b-2")
	weighted := topo(8, "a-1", "a-2", "b-1", "b-2")
	weighted.Nodes[1].Weight = 3
	for _, c := range []struct {
		name   string
		tgt    replication.Topology
		from   string
		check  func(m Move) bool // every move satisfies it
		shareL float64           // bounds on the share of keys moving
		shareH float64
	}{
		{"grow", topo(8, "a-1", "a-2", "a-3", "b-1", "b-2"), "", func(m Move) bool { return m.To.ID == "a-3" }, 0.2, 0.45},
		{"shrink", topo(8, "a-1", "b-1", "b-2"), "", func(m Move) bool { return m.From.ID == "a-2" && m.To.ID == "a-1" }, 0.35, 0.65},
		{"weight", weighted, "", func(m Move) bool { return m.From.ID == "a-1" && m.To.ID == "a-2" }, 0.15, 0.4},
		{"replace", topo(8, "a-3", "a-2", "b-1", "b-2"), "", func(m Move) bool { return m.Zone == "a" && m.To.ID != "a-1" }, 0.35, 0.8},
		{"add zone", topo(8, "a-1", "a-2", "b-1", "b-2", "c-1", "c-2"), "b", func(m Move) bool { return m.Zone == "c" && m.From.Zone == "b" }, 0.99, 1.01},
		{"remove zone", topo(8, "a-1", "a-2"), "", func(Move) bool { return false }, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := planFor(t, Config{Current: cur, Target: c.tgt, FromZone: c.from}, n)
			got, want := gotMoves(t, p), wantMoves(t, cur, c.tgt, c.from, liveKeys("k%d", n))
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("plan moves %d keys, placement %d; differ", len(got), len(want))
			}
			checkStale(t, p, cur, c.tgt)
			if c.name == "shrink" && (len(p.Stale) != 1 || p.Stale[0].Node.ID != "a-1") {
				t.Fatalf("stale %+v: want a-1's strays of a-2's keys", p.Stale)
			}
			for _, m := range p.Moves {
				if !c.check(m) {
					t.Fatalf("unexpected move %s %s>%s", m.Zone, m.From.ID, m.To.ID)
				}
			}
			live := float64(n - n/10)
			if share := float64(len(got)) / live; share < c.shareL || share > c.shareH {
				t.Fatalf("%.2f of the keys move, want %.2f..%.2f", share, c.shareL, c.shareH)
			}
			st := p.Stats
			if len(c.tgt.Zones()) < len(cur.Zones()) {
				if st.Scanned != 0 {
					t.Fatalf("removing a zone dumped %d items, want none", st.Scanned)
				}
				return
			}
			if st.Stray == 0 || st.Expiring == 0 || st.Scanned != st.Stray+st.Expiring+st.Unchanged+st.Moving || st.Moving != int64(len(got)) {
				t.Fatalf("stats %+v for %d moving keys", st, len(got))
			}
		})
	}
}

func TestPlanSkipsExpiringByThreshold(t *testing.T) {
	cfg := Config{Current: topo(1, "a-1"), Target: topo(2, "a-2")}
	p := planFor(t, cfg, 100)
	if p.Stats.Expiring != 10 || p.Keys() != 90 {
		t.Fatalf("default threshold: %+v, %d keys; want 10 expiring, 90 moving", p.Stats, p.Keys())
	}
	cfg.SkipExpiring = 2 * time.Hour // the items expiring in an hour too
	if p := planFor(t, cfg, 100); p.Stats.Expiring != 10+13 {
		t.Fatalf("2 h threshold: %+v, want 23 expiring", p.Stats)
	}
	cfg.SkipExpiring = -1 // only expired ones: none here
	if p := planFor(t, cfg, 100); p.Stats.Expiring != 0 || p.Keys() != 100 {
		t.Fatalf("no threshold: %+v", p.Stats)
	}
}

func TestPlanRefusesUnusableConfigs(t *testing.T) {
	cur := topo(1, "a-1", "a-2", "b-1")
	warming := topo(1, "a-1", "a-2", "b-1", "a-3")
	warming.Nodes[3].State = replication.Warming
	onlyWarming := topo(1, "a-1", "b-1")
	onlyWarming.Nodes[0].State = replication.Warming
	for _, c := range []struct {
		cfg  Config
		want error
	}{
		{Config{Current: cur, Target: topo(2, "a-1", "b-1", "c-1")}, ErrConfig},                // no zone to copy from
		{Config{Current: cur, Target: topo(2, "a-1", "b-1"), FromZone: "b"}, ErrConfig},        // none added
		{Config{Current: cur, Target: topo(2, "a-1", "b-1", "c-1"), FromZone: "x"}, ErrConfig}, // unknown source
		{Config{Current: cur, Target: replication.Topology{}}, ErrConfig},                      // empty target
		{Config{Current: warming, Target: topo(2, "a-1", "a-2", "b-1")}, ErrUnsettled},         // a-3 left warming
		{Config{Current: onlyWarming, Target: topo(2, "a-1", "b-1")}, ErrConfig},               // zone a is added: from where?
		{Config{Current: cur, Target: topo(2, "a-1", "a-1")}, ErrConfig},                       // duplicate id
	} {
		if _, err := newPlanner(c.cfg, planNow); !errors.Is(err, c.want) {
			t.Errorf("%v -> %v: err %v, want %v", c.cfg.Current.Nodes, c.cfg.Target.Nodes, err, c.want)
		}
	}
	// A warming node the target keeps is the reshard's own destination.
	if _, err := newPlanner(Config{Current: warming, Target: topo(2, "a-1", "a-2", "a-3", "b-1")}, planNow); err != nil {
		t.Fatal(err)
	}
	// So is a zone of warming nodes the target adds.
	p, err := newPlanner(Config{Current: onlyWarming, Target: topo(2, "a-1", "b-1"), FromZone: "b"}, planNow)
	if err != nil || len(p.into["b"]) != 1 || len(p.sources()) != 1 || p.sources()[0].ID != "b-1" {
		t.Fatalf("zone a of warming a-1 added from b: %v, sources %v", err, p.sources())
	}
}

func TestChangeApply(t *testing.T) {
	cur := topo(4, "a-1", "a-2", "b-1", "b-2")
	cur.Nodes[1].State = replication.Draining
	got, err := Change{
		Add:         []replication.Node{node("a-3", 2), node("c-1", 0)},
		Remove:      []string{"a-1"},
		Weights:     map[string]int{"a-2": 5},
		RemoveZones: []string{"b"},
	}.Apply(cur)
	if err != nil {
		t.Fatal(err)
	}
	want := replication.Topology{Epoch: 7, Nodes: []replication.Node{node("a-2", 5), node("a-3", 2), node("c-1", 0)}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, c := range []Change{
		{Remove: []string{"x-1"}},
		{RemoveZones: []string{"x"}},
		{Remove: []string{"b-1", "b-2"}},                                           // zone b left empty
		{Weights: map[string]int{"a-1": 0}},                                        // weight 0
		{Weights: map[string]int{"a-9": 2}},                                        // unknown
		{Add: []replication.Node{{ID: "a-1", Zone: "a", Addr: "127.0.0.1:9"}}},     // a-1 elsewhere
		{Add: []replication.Node{{ID: "a-9", Zone: "a", Addr: cur.Nodes[0].Addr}}}, // address taken
	} {
		if _, err := c.Apply(cur); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v, want ErrConfig", c, err)
		}
	}
	// Naming an existing (warming) node again with its address keeps it.
	cur.Nodes = append(cur.Nodes, replication.Node{ID: "a-3", Zone: "a", Addr: "127.0.0.1:7", State: replication.Warming})
	got, err = Change{Add: []replication.Node{{ID: "a-3", Zone: "a", Addr: "127.0.0.1:7"}}}.Apply(cur)
	if n, _ := got.Node("a-3"); err != nil || n.EffectiveState() != replication.Serving || len(got.Nodes) != 5 {
		t.Fatalf("re-add of warming a-3: %+v %v", got, err)
	}
	// Not named, it is left out: an unfinished change is not adopted.
	got, err = Change{Remove: []string{"a-1"}}.Apply(cur)
	if _, kept := got.Node("a-3"); err != nil || kept {
		t.Fatalf("warming a-3 not added: kept %v (%v)", kept, err)
	}
}

func TestEstimate(t *testing.T) {
	for _, c := range []struct {
		keys, bytes int64
		kps, bps    float64
		want        time.Duration
	}{
		{1000, 1 << 20, 100, 0, 10 * time.Second},
		{1000, 1 << 20, 100, 1 << 16, 16 * time.Second},
		{1000, 1 << 20, 0, 0, 0},
	} {
		if got := Estimate(c.keys, c.bytes, c.kps, c.bps); got != c.want {
			t.Errorf("Estimate(%d, %d, %v, %v) = %v, want %v", c.keys, c.bytes, c.kps, c.bps, got, c.want)
		}
	}
}

// checkStale checks that each stale key is on a node that does not own it
// now and will.
func checkStale(t *testing.T, p *Plan, cur, tgt replication.Topology) {
	t.Helper()
	cp, _ := replication.NewPlacement(cur, sharding.Config{})
	tp, _ := replication.NewPlacement(tgt, sharding.Config{})
	for _, st := range p.Stale {
		for _, k := range st.Keys {
			now, _ := cp.Zone(st.Node.Zone).ReadOwner(k)
			next, _ := tp.Zone(st.Node.Zone).ReadOwner(k)
			if now.ID == st.Node.ID || next.ID != st.Node.ID {
				t.Fatalf("stale %s on %s: owner %s now, %s after", k, st.Node.ID, now.ID, next.ID)
			}
		}
	}
}
