package reshard

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/reshardtest"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// says collects what a reshard says, per step.
type says struct {
	mu  sync.Mutex
	got []string
}

func (s *says) say(step Step, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, step.String()+": "+msg)
}

func (s *says) has(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.got, func(m string) bool { return strings.Contains(m, sub) })
}

// stepByStep runs every step, each from a reshard opened from the
// checkpoint, as after an interruption between steps.
func stepByStep(t *testing.T, cfg RunConfig) {
	t.Helper()
	ctx := context.Background()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Plan(ctx); err != nil {
		t.Fatal(err)
	}
	for step := StepIntermediate; step <= StepCleanup; step++ {
		if r, err = Open(cfg); err != nil || r.Done() != step-1 {
			t.Fatalf("open before %v: done %v, %v", step, r.Done(), err)
		}
		if err := r.Next(ctx); err != nil {
			t.Fatalf("%v: %v", step, err)
		}
	}
	if r.Done() != StepCleanup {
		t.Fatalf("done %v", r.Done())
	}
}

// TestReshardGrowsAndShrinksAGossipingFleet grows zone a of a gossiping
// zonecached fleet by a-3 (started warming) and shrinks it back, each
// step from a reshard opened from the checkpoint. a-3 is draining at the
// switch (its reads moved, the old owners still written), and after the
// grow a-3 serves and every node of zone a holds exactly its keys (the moved ones
// purged from their previous owners); during the shrink a-3 stays
// draining through a copy longer than its --drain-timeout, warming at the
// switch, is stopped only at the cutover, and zone a's two nodes then hold every key.
func TestReshardGrowsAndShrinksAGossipingFleet(t *testing.T) {
	ctx := context.Background()
	f := reshardtest.StartGossip(t, fleet.Config{Zones: []string{"a", "b"}, DrainTimeout: time.Second})
	keys := reshardtest.Keys("g", 400)
	reshardtest.SetOwners(t, f.Topology(), keys)
	a3, err := f.Add(ctx, "a", "a-3", "--state", "warming")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.WaitTopology(ctx, discovery.Config{Seeds: f.AdminAddrs()}, 5, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	admins := reshardtest.Admins(f)
	var s says
	gf := &GossipFleet{Seeds: f.AdminAddrs(), Admin: admins, AdminToken: f.Nodes()[0].AdminToken}
	cfg := RunConfig{Fleet: gf, Change: Change{Add: []replication.Node{{ID: "a-3", Zone: "a", Addr: a3.Addr}}},
		Checkpoint: filepath.Join(t.TempDir(), "grow"), ViewLag: 500 * time.Millisecond, Say: s.say}
	stepByStep(t, cfg)
	top, err := gf.Topology(ctx)
	if n, _ := top.Node("a-3"); err != nil || n.EffectiveState() != replication.Serving || len(top.Nodes) != 5 {
		t.Fatalf("after the grow: %+v %v, want a-3 serving", top, err)
	}
	reshardtest.CheckHeldExactly(t, top, "a", keys)
	if !s.has("intermediate: clients already write to the new owners") || !s.has("switch: a-3 ("+a3.Addr+") is draining") ||
		!s.has("cutover: a-3 ("+a3.Addr+") is serving") {
		t.Fatalf("said %q", s.got)
	}

	// Shrink back: a-3 drains during a copy longer than its drain timeout.
	var stopped sync.WaitGroup
	defer stopped.Wait()
	gf.Stop = func(_ context.Context, n replication.Node) error {
		if n.ID != "a-3" {
			return fmt.Errorf("stop %s", n.ID)
		}
		stopped.Go(func() { _ = a3.Terminate(10 * time.Second) })
		return nil
	}
	shrink := cfg
	shrink.Change = Change{Remove: []string{"a-3"}}
	shrink.Checkpoint = filepath.Join(t.TempDir(), "shrink")
	shrink.Copy.Rate = 100 // about 130 keys: longer than the drain timeout
	r, err := New(shrink)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func(context.Context) error{
		func(ctx context.Context) error { _, err := r.Plan(ctx); return err },
		r.Intermediate,
		func(ctx context.Context) error { _, _, err := r.Copy(ctx); return err },
	} {
		if err := step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	top, err = gf.Topology(ctx)
	if n, _ := top.Node("a-3"); err != nil || n.EffectiveState() != replication.Draining || !a3.Running() {
		t.Fatalf("after the copy: a-3 %+v (running %v) %v, want it draining still", n, a3.Running(), err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.has("switch: a-3 (" + a3.Addr + ") is warming") {
		t.Fatalf("said %q, want a-3 warming at the switch", s.got)
	}
	stopped.Wait()
	top, err = gf.Topology(ctx)
	if _, listed := top.Node("a-3"); err != nil || listed || len(top.Nodes) != 4 || a3.Running() {
		t.Fatalf("after the shrink: %+v %v, want a-3 gone", top, err)
	}
	reshardtest.CheckHeldExactly(t, top, "a", keys)
}

// TestReshardGrowsAStaticMemcachedFleet grows zone a of a stock memcached
// fleet whose clients load a topology file, through Run, interrupted (its
// context cancelled) in the wait for the clients and in the copy.
// The new node held an old value of a key it takes over: it is emptied
// before clients write to it.
func TestReshardGrowsAStaticMemcachedFleet(t *testing.T) {
	ctx := context.Background()
	cur, spare := memcachedFleet(t, "a-3")
	keys := reshardtest.Keys("s", 600)
	reshardtest.SetOwners(t, cur, keys)
	old := nodeclient.NewNode(spare["a-3"].Addr, nodeclient.Config{})
	defer old.Close()
	for _, k := range keys[:50] {
		if err := old.Online().Set(ctx, nodeclient.Item{Key: k, Value: []byte("old")}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	written := map[Step]replication.Topology{}
	var s says
	// Interrupted in the wait for the clients: when it says it waits.
	waiting, interrupt := context.WithCancel(ctx)
	defer interrupt()
	cfg := RunConfig{
		Fleet: &StaticFleet{Current: cur, Write: func(_ context.Context, step Step, top replication.Topology) error {
			mu.Lock()
			defer mu.Unlock()
			written[step] = top
			return nil
		}},
		Change:     Change{Add: []replication.Node{spare["a-3"]}},
		Checkpoint: filepath.Join(t.TempDir(), "cp"),
		ViewLag:    time.Hour,
		Say: func(step Step, msg string) {
			s.say(step, msg)
			if strings.HasPrefix(msg, "waiting 1h") {
				interrupt()
			}
		},
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(waiting); !errors.Is(err, context.Canceled) || r.Done() != StepPlan {
		t.Fatalf("interrupted in the wait for the clients: %v, done %v", err, r.Done())
	}
	mid := written[StepIntermediate]
	if n, _ := mid.Node("a-3"); n.State != replication.Warming || mid.Epoch != cur.Epoch+1 {
		t.Fatalf("intermediate written %+v", mid)
	}
	// A client that loaded the intermediate topology wrote a key a-3 takes
	// over: to a-3, and to its read owner, where the write failed and its
	// repair deleted the key. The resumed run must keep a-3's value.
	_, _, tgt := r.Topologies()
	live := ""
	reshardtest.ForOwners(t, tgt, keys, func(nc *nodeclient.Node, k string) {
		if live == "" && nc.Addr() == spare["a-3"].Addr {
			live = k
		}
	})
	reshardtest.ForOwners(t, replication.Topology{Nodes: mid.ZoneNodes("a", nil)}, []string{live}, func(nc *nodeclient.Node, k string) {
		if err := nc.Online().Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	})
	if err := old.Online().Set(ctx, nodeclient.Item{Key: live, Value: []byte("live")}); err != nil {
		t.Fatal(err)
	}
	// Interrupted in the copy: once some items are copied.
	copying, interrupt := context.WithCancel(ctx)
	defer interrupt()
	cfg.ViewLag = 100 * time.Millisecond
	cfg.Copy = CopyConfig{Rate: 100, CheckpointEvery: 50 * time.Millisecond, Progress: func(st CopyStats) {
		if st.Copied > 0 {
			interrupt()
		}
	}}
	if r, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(copying); !errors.Is(err, context.Canceled) || r.Done() != StepIntermediate {
		t.Fatalf("interrupted in the copy: %v, done %v", err, r.Done())
	}
	cfg.Copy = CopyConfig{}
	if r, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if it, err := old.Online().Get(ctx, live); err != nil || string(it.Value) != "live" {
		t.Fatalf("%s, written live to a-3 during the copy: %q %v", live, it.Value, err)
	}
	if sw := written[StepSwitch]; !SameNodes(sw, Switch(cur, tgt)) || sw.Epoch != cur.Epoch+2 {
		t.Fatalf("switch written %+v", sw)
	}
	if got := written[StepCutover]; !SameNodes(got, tgt) || got.Epoch != cur.Epoch+3 {
		t.Fatalf("target written %+v, want %+v", got, tgt)
	}
	others := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == live })
	reshardtest.CheckHeldExactly(t, tgt, "a", others)
	reshardtest.CheckHeldExactly(t, tgt, "b", keys)
	moved := 0
	reshardtest.ForOwners(t, tgt, keys, func(nc *nodeclient.Node, _ string) {
		if nc.Addr() == spare["a-3"].Addr {
			moved++
		}
	})
	// memcached purges nothing by itself: the moved keys are deleted by
	// the cleanup (all but the live one, deleted by its repair), and the
	// purge then finds nothing to delete.
	if !s.has("a-3 held 50 items from before: deleted") || !s.has(fmt.Sprintf("cleanup: %d moved items deleted from their previous owners; [a-1 a-2 a-3] purged of the items they do not own: nodes=3 skipped=0 ", moved-1)) || !s.has(" deleted=0 kept=") {
		t.Fatalf("said %q", s.got)
	}
}

// TestReshardRefusesBeforeChangingAnything checks the refusals of Plan,
// each saying what to do, with nothing written.
func TestReshardRefusesBeforeChangingAnything(t *testing.T) {
	cur, spare := memcachedFleet(t, "a-3")
	top := cur
	top.Nodes = append(slices.Clone(cur.Nodes), replication.Node{ID: "a-9", Zone: "a", Addr: "127.0.0.1:1", State: replication.Warming})
	draining := cur
	draining.Nodes = slices.Clone(cur.Nodes)
	draining.Nodes[1].State = replication.Draining
	for _, c := range []struct {
		name   string
		cur    replication.Topology
		change Change
		want   string
	}{
		{"unfinished run", top, Change{Add: []replication.Node{spare["a-3"]}}, "a-9 is warming and not in the target"},
		{"unfinished shrink", draining, Change{Add: []replication.Node{spare["a-3"]}}, "a-2 is draining and the target keeps it"},
		{"no serving node", cur, Change{Add: []replication.Node{spare["a-3"]}, Remove: []string{"a-1", "a-2"}}, "zone a would be left with no serving node"},
		{"dead new node", cur, Change{Add: []replication.Node{{ID: "a-4", Zone: "a", Addr: "127.0.0.1:1"}}}, "new node a-4 (127.0.0.1:1) does not answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wrote := false
			r, err := New(RunConfig{Fleet: &StaticFleet{Current: c.cur, Write: func(context.Context, Step, replication.Topology) error {
				wrote = true
				return nil
			}}, Change: c.change})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) || wrote || r.Done() != StepNone {
				t.Fatalf("%v (wrote %v, done %v), want a refusal with %q", err, wrote, r.Done(), c.want)
			}
		})
	}
	gf := &GossipFleet{Seeds: []string{"127.0.0.1:1"}}
	err := gf.Check(context.Background(), cur, cur, replication.Topology{Nodes: append(slices.Clone(cur.Nodes), spare["a-3"])})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "start it warming") {
		t.Fatalf("gossip check of a node not in the fleet: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := writeJSON(bad, checkpointFile{Plan: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(RunConfig{Fleet: gf, Checkpoint: bad}); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("open of a copy's checkpoint: %v, want ErrCheckpoint", err)
	}
	reweighed, err := Change{Weights: map[string]int{"a-1": 2}}.Apply(cur)
	if err != nil {
		t.Fatal(err)
	}
	err = gf.Check(context.Background(), cur, Intermediate(cur, reweighed), reweighed)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "node a-1 is to be serving with weight 1 (next 2) and has no admin address: give it (--admin a-1=HOST:PORT)") {
		t.Fatalf("gossip check of a weight change with no admin address: %v", err)
	}
}

// TestReshardReweighsAStaticMemcachedFleet changes a-2's weight from 1 to
// 3 warm: during the copy the clients' topology gives a-2 its next weight
// (writes placed with it, reads with the current one); afterwards each
// node of zone a holds exactly the keys it owns with the new weights.
func TestReshardReweighsAStaticMemcachedFleet(t *testing.T) {
	cur, _ := memcachedFleet(t)
	keys := reshardtest.Keys("w", 600)
	reshardtest.SetOwners(t, cur, keys)
	written := map[Step]replication.Topology{}
	r, err := New(RunConfig{
		Fleet: &StaticFleet{Current: cur, Write: func(_ context.Context, step Step, top replication.Topology) error {
			written[step] = top
			return nil
		}},
		Change:  Change{Weights: map[string]int{"a-2": 3}},
		ViewLag: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := r.Plan(context.Background())
	if err != nil || plan.Keys() == 0 {
		t.Fatalf("plan of %v keys: %v", plan, err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := written[StepIntermediate].Node("a-2"); n.NextWeight != 3 || n.EffectiveWeight() != 1 {
		t.Fatalf("a-2 in the intermediate topology: %+v", n)
	}
	_, _, tgt := r.Topologies()
	if n, _ := written[StepSwitch].Node("a-2"); n.Weight != 3 || n.NextWeight != 1 {
		t.Fatalf("a-2 in the switch topology: %+v", n)
	}
	if n, _ := written[StepCutover].Node("a-2"); n.Weight != 3 || n.NextWeight != 0 {
		t.Fatalf("a-2 in the target: %+v", n)
	}
	reshardtest.CheckHeldExactly(t, tgt, "a", keys)
	reshardtest.CheckHeldExactly(t, tgt, "b", keys)
}

// TestReshardAddsAndRemovesAZoneOfAStaticFleet adds zone c, filled from
// zone b's replicas, to a stock memcached fleet, each step from a reshard
// opened from the checkpoint; then removes it. Zone c's nodes then hold
// exactly the keys they own, and the clients' last topology has no zone c.
func TestReshardAddsAndRemovesAZoneOfAStaticFleet(t *testing.T) {
	cur, spare := memcachedFleet(t, "c-1", "c-2")
	keys := reshardtest.Keys("z", 500)
	reshardtest.SetOwners(t, cur, keys)
	var clients replication.Topology
	fleet := &StaticFleet{Current: cur, Write: func(_ context.Context, _ Step, top replication.Topology) error {
		clients = top
		return nil
	}}
	cfg := RunConfig{Fleet: fleet, Change: Change{Add: []replication.Node{spare["c-1"], spare["c-2"]}}, FromZone: "b",
		Checkpoint: filepath.Join(t.TempDir(), "add"), ViewLag: 50 * time.Millisecond}
	stepByStep(t, cfg)
	if len(clients.ZoneNodes("c", replication.NodeState.ServesReads)) != 2 {
		t.Fatalf("the clients' topology after adding zone c: %+v", clients)
	}
	reshardtest.CheckHeldExactly(t, clients, "c", keys)

	fleet.Current = clients
	r, err := New(RunConfig{Fleet: fleet, Change: Change{RemoveZones: []string{"c"}}, ViewLag: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(clients.Zones(), "c") || len(clients.Nodes) != 4 {
		t.Fatalf("the clients' topology after removing zone c: %+v", clients)
	}
}

// TestReshardReweighsAGossipingFleet changes a-2's weight from 1 to 3 on a
// gossiping zonecached fleet, warm: a-2 advertises its next weight during
// the copy (writes placed with it), then the new weight with the old one
// as next at the switch, then the new one alone. Afterwards every node of
// zone a holds exactly the keys it owns with the new weights, and a client
// of zone a alone hits every key.
func TestReshardReweighsAGossipingFleet(t *testing.T) {
	ctx := context.Background()
	f := reshardtest.StartGossip(t, fleet.Config{Zones: []string{"a", "b"}})
	keys := reshardtest.Keys("gw", 600)
	reshardtest.SetOwners(t, f.Topology(), keys)
	admins := reshardtest.Admins(f)
	var s says
	gf := &GossipFleet{Seeds: f.AdminAddrs(), Admin: admins, AdminToken: f.Nodes()[0].AdminToken}
	r, err := New(RunConfig{Fleet: gf, Change: Change{Weights: map[string]int{"a-2": 3}}, ViewLag: 500 * time.Millisecond, Say: s.say})
	if err != nil {
		t.Fatal(err)
	}
	if plan, err := r.Plan(ctx); err != nil || plan.Keys() == 0 {
		t.Fatalf("plan of %v keys: %v", plan, err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	top, err := gf.Topology(ctx)
	if n, _ := top.Node("a-2"); err != nil || n.Weight != 3 || n.NextWeight != 0 {
		t.Fatalf("after the reshard a-2 is %+v (%v), want weight 3", n, err)
	}
	a2, _ := top.Node("a-2")
	for _, want := range []string{"intermediate: a-2 (" + a2.Addr + ") has weight 1, next 3", "switch: a-2 (" + a2.Addr + ") has weight 3, next 1",
		"cutover: a-2 (" + a2.Addr + ") has weight 3, next 0"} {
		if !s.has(want) {
			t.Fatalf("said %q, want %q", s.got, want)
		}
	}
	reshardtest.CheckHeldExactly(t, top, "a", keys)
	reshardtest.CheckHeldExactly(t, top, "b", keys)
}
