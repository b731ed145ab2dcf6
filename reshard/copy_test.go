package reshard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/warm"
)

// totalItems reads memcached's total_items (items ever stored) at addr.
func totalItems(t testing.TB, addr string) int64 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(line)
		if len(f) == 3 && f[1] == "total_items" {
			n, _ := strconv.ParseInt(f[2], 10, 64)
			return n
		}
		if len(f) == 1 && f[0] == "END" {
			t.Fatal("no total_items")
		}
	}
}

// TestCopyResumesAfterCancelAndAddsEachKeyOnce replaces a-2 by a-3 on a
// stock memcached fleet: the copy is cancelled partway, resumed from its
// checkpoint, and then every moved key is on its new owner, stored there
// exactly once (total_items), and the values live traffic wrote to the
// destinations before the copy are kept.
func TestCopyResumesAfterCancelAndAddsEachKeyOnce(t *testing.T) {
	ctx := context.Background()
	const n = 3000
	cur, spare := memcachedFleet(t, "a-3")
	fill(t, cur, n)
	tgt, err := Change{Add: []replication.Node{spare["a-3"]}, Remove: []string{"a-2"}}.Apply(cur)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(ctx, Config{Current: cur, Target: tgt})
	if err != nil {
		t.Fatal(err)
	}
	dsts := map[string]*nodeclient.Node{}
	planned := map[string]int64{} // keys per destination address
	for _, m := range plan.Moves {
		if dsts[m.To.Addr] == nil {
			dsts[m.To.Addr] = nodeclient.NewNode(m.To.Addr, nodeclient.Config{})
			defer dsts[m.To.Addr].Close()
		}
		planned[m.To.Addr] += int64(len(m.Items))
	}
	if len(planned) != 2 || plan.Keys() < 500 {
		t.Fatalf("plan of %d keys to %d nodes: the test wants two destinations and many keys", plan.Keys(), len(planned))
	}
	// Live traffic wrote newer values of a few moving keys, as clients
	// write during a reshard, to the key's read owner and its new owner:
	// the hottest of each move, and one further down.
	// (Keys stale on their new owner are left out: their delete would
	// count as one more store there.)
	staleKey := map[string]bool{}
	for _, st := range plan.Stale {
		for _, k := range st.Keys {
			staleKey[k] = true
		}
	}
	live := map[string]bool{}
	for _, m := range plan.Moves {
		var picked []warm.Item
		for _, it := range append(m.Items[:1:1], m.Items[len(m.Items)/2:]...) {
			if len(picked) < 2 && !staleKey[it.Key] {
				picked = append(picked, it)
			}
		}
		for _, it := range picked {
			for _, addr := range []string{m.From.Addr, m.To.Addr} {
				n := nodeclient.NewNode(addr, nodeclient.Config{})
				err := n.Online().Set(ctx, nodeclient.Item{Key: it.Key, Value: []byte("newer")})
				n.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			live[it.Key] = true
			planned[m.To.Addr]--
		}
	}
	before := map[string]int64{}
	for addr := range dsts {
		before[addr] = totalItems(t, addr)
	}

	// First run: cancelled once a-3 holds 200 copies.
	cfg := CopyConfig{Rate: 4000, Concurrency: 8, Checkpoint: filepath.Join(t.TempDir(), "cp.json"), CheckpointEvery: 20 * time.Millisecond}
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		for totalItems(t, spare["a-3"].Addr)-before[spare["a-3"].Addr] < 200 && cctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}()
	first, err := Copy(cctx, plan, cfg)
	if !errors.Is(err, context.Canceled) || first.Copied == 0 || first.Copied >= plan.Keys()-int64(len(live)) {
		t.Fatalf("first run: %v, %v; want cancelled partway through %d keys", first, err, plan.Keys())
	}
	_, cp, err := readCheckpoint(cfg.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	var checkpointed int64
	for _, m := range cp.Moves {
		checkpointed += int64(m.Done)
	}
	if checkpointed == 0 || checkpointed > first.Copied+first.Present {
		t.Fatalf("checkpoint has %d items done after %v", checkpointed, first)
	}

	// Resume with no rate limit.
	cfg.Rate = 0
	var last CopyStats
	cfg.Progress = func(st CopyStats) { last = st }
	resumed, second, err := Resume(ctx, cfg)
	if last != second {
		t.Fatalf("last progress %v, want the final stats %v", last, second)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first %v; resumed %v", first, second)
	if resumed.Keys() != plan.Keys() || first.Failed+second.Failed+first.Gone+second.Gone != 0 {
		t.Fatalf("resumed plan of %d keys (want %d), first %v, second %v", resumed.Keys(), plan.Keys(), first, second)
	}
	// The second run went through every item the checkpoint did not
	// have; those of the first run after its last checkpoint are Present.
	if rest := plan.Keys() - checkpointed; second.Copied+second.Present != rest || second.Present < int64(len(live))/2 {
		t.Fatalf("second run %v, want %d items after the checkpoint's %d", second, rest, checkpointed)
	}
	var stale int64
	for _, st := range plan.Stale {
		stale += int64(len(st.Keys))
	}
	if stale == 0 || first.Deleted+second.Deleted != stale {
		t.Fatalf("%d stale keys deleted, want the plan's %d (> 0: fill leaves strays)", first.Deleted+second.Deleted, stale)
	}
	for addr, want := range planned {
		if got := totalItems(t, addr) - before[addr]; got != want {
			t.Fatalf("%s stored %d items during the copy, want %d (each moved key once)", addr, got, want)
		}
	}
	for _, m := range plan.Moves {
		for _, it := range m.Items {
			got, err := dsts[m.To.Addr].Online().Get(ctx, it.Key)
			want := "v" + strings.TrimPrefix(it.Key, "rs:")
			if live[it.Key] {
				want = "newer"
			}
			if err != nil || string(got.Value) != want {
				t.Fatalf("%s on %s: %q %v, want %q", it.Key, m.To.ID, got.Value, err, want)
			}
		}
	}
	// A third run finds nothing left to do.
	if _, third, err := Resume(ctx, cfg); err != nil || third != (CopyStats{}) {
		t.Fatalf("third run: %v %v, want nothing done", third, err)
	}
}

func TestProgressAndOrder(t *testing.T) {
	item := func(la int64) warm.Item { return warm.Item{Key: fmt.Sprint(la), LastAccess: la} }
	plan := &Plan{Moves: []Move{
		{Items: []warm.Item{item(9), item(5), item(1)}},
		{Items: []warm.Item{item(8), item(7), item(6), item(2)}},
	}}
	c := &copier{plan: plan}
	var got []int64
	for _, r := range c.todo([]int{1, 0}) {
		got = append(got, c.item(r).LastAccess)
	}
	if fmt.Sprint(got) != "[8 7 6 5 2 1]" {
		t.Fatalf("order %v, want hottest first without the done item", got)
	}
	p := newProgress(plan, []int{1, 0}, false)
	for _, r := range []ref{{1, 1}, {0, 2}, {1, 0}, {1, 3}} {
		p.done(r)
	}
	if cp := p.checkpoint(plan, "x"); cp.Moves[0].Done != 1 || cp.Moves[1].Done != 2 {
		t.Fatalf("checkpoint %+v: want 1 and 2 done (later items wait for the earlier ones)", cp.Moves)
	}
	p.done(ref{1, 2})
	p.done(ref{0, 1})
	if cp := p.checkpoint(plan, "x"); cp.Moves[0].Done != 3 || cp.Moves[1].Done != 4 {
		t.Fatalf("checkpoint %+v: want all done", cp.Moves)
	}
}

func TestResumeRefusesABadCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cp.json")
	if _, _, err := Resume(context.Background(), CopyConfig{Checkpoint: path}); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("missing checkpoint: %v", err)
	}
	plan := &Plan{Target: replication.Topology{Epoch: 3}, Moves: []Move{{Zone: "a", From: replication.Node{ID: "a-1"}, To: replication.Node{ID: "a-2"}, Items: []warm.Item{{Key: "k"}}}}}
	if err := writeJSON(planPath(path), plan); err != nil {
		t.Fatal(err)
	}
	for _, cp := range []checkpointFile{
		{Plan: "cp.json.plan", TargetEpoch: 4, Moves: []checkpointMove{{Zone: "a", From: "a-1", To: "a-2", Items: 1}}},
		{Plan: "cp.json.plan", TargetEpoch: 3, Moves: []checkpointMove{{Zone: "a", From: "a-1", To: "a-3", Items: 1}}},
		{Plan: "cp.json.plan", TargetEpoch: 3, Moves: []checkpointMove{{Zone: "a", From: "a-1", To: "a-2", Items: 1, Done: 2}}},
	} {
		if err := writeJSON(path, cp); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Resume(context.Background(), CopyConfig{Checkpoint: path}); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%+v: %v, want ErrCheckpoint", cp, err)
		}
	}
}

func TestCopyCopiesNothingWhileAStaleKeyRemains(t *testing.T) {
	src, dst := testproc.StartMemcached(t), testproc.StartMemcached(t)
	ctx := context.Background()
	n := nodeclient.NewNode(src.Addr, nodeclient.Config{})
	defer n.Close()
	if err := n.Online().Set(ctx, nodeclient.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	dead.Close()
	plan := &Plan{
		Target: replication.Topology{Epoch: 3},
		Moves: []Move{{Zone: "a", From: replication.Node{ID: "a-1", Addr: src.Addr}, To: replication.Node{ID: "a-2", Addr: dst.Addr},
			Items: []warm.Item{{Key: "k", Exp: -1}}}},
		Stale: []Stale{{Node: replication.Node{ID: "a-3", Addr: dead.Addr().String()}, Keys: []string{"old"}}},
	}
	cfg := CopyConfig{Checkpoint: filepath.Join(t.TempDir(), "cp")}
	st, err := Copy(ctx, plan, cfg)
	if !errors.Is(err, ErrStaleLeft) || st.Copied != 0 {
		t.Fatalf("copy with a stale key left: %v %v, want ErrStaleLeft and nothing copied", st, err)
	}
	if _, cp, err := readCheckpoint(cfg.Checkpoint); err != nil || cp.StaleDone || cp.Moves[0].Done != 0 {
		t.Fatalf("checkpoint %+v %v: want stale keys and the move still to do", cp, err)
	}
}

// TestCopyCountsAStaleKeyAlreadyGoneAsDeleted: a stale key that expired or
// was deleted since the plan is as good as deleted (Delete answers
// ErrNotFound); the copy goes on.
func TestCopyCountsAStaleKeyAlreadyGoneAsDeleted(t *testing.T) {
	src, dst := testproc.StartMemcached(t), testproc.StartMemcached(t)
	ctx := context.Background()
	n := nodeclient.NewNode(src.Addr, nodeclient.Config{})
	defer n.Close()
	if err := n.Online().Set(ctx, nodeclient.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	plan := &Plan{
		Target: replication.Topology{Epoch: 3},
		Moves: []Move{{Zone: "a", From: replication.Node{ID: "a-1", Addr: src.Addr}, To: replication.Node{ID: "a-2", Addr: dst.Addr},
			Items: []warm.Item{{Key: "k", Exp: -1}}}},
		Stale: []Stale{{Node: replication.Node{ID: "a-2", Addr: dst.Addr}, Keys: []string{"gone"}}},
	}
	if st, err := Copy(ctx, plan, CopyConfig{}); err != nil || st.Deleted != 1 || st.Copied != 1 {
		t.Fatalf("copy: %v %v, want the absent stale key deleted and k copied", st, err)
	}
}
