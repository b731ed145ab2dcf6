package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/reshardtest"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// idRing is the ring of a zone of the nodes ids, with default weights.
func idRing(t *testing.T, ids ...string) *sharding.Ring {
	t.Helper()
	var sn []sharding.Node
	for _, id := range ids {
		sn = append(sn, sharding.Node{ID: id})
	}
	r, err := sharding.New(sn, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReshardUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--add", "a/a-3/127.0.0.1:1", "--dry-run"}, "one of --seeds and --topology"},
		{[]string{"--topology", "f", "--add", "a/a-3/127.0.0.1:1"}, "give --dry-run, or --checkpoint"},
		{[]string{"--topology", "f", "--add", "a/a-3/127.0.0.1:1", "--dry-run", "--checkpoint", "x"}, "give --dry-run, or --checkpoint"},
		{[]string{"--resume"}, "--resume needs --checkpoint"},
		{[]string{"--resume", "--checkpoint", "x", "--dry-run"}, "--resume needs --checkpoint"},
		{[]string{"--resume", "--checkpoint", "x", "--concurrency", "0"}, "--concurrency"},
		{[]string{"--topology", "f", "--dry-run"}, "--target, or edits"},
		{[]string{"--topology", "f", "--target", "g", "--remove", "a-1", "--dry-run"}, "--target, or edits"},
		{[]string{"--topology", "f", "--add", "a/a-3", "--dry-run"}, "ZONE/ID/HOST:PORT"},
		{[]string{"--topology", "f", "--add", "a/a-3/127.0.0.1:1/0", "--dry-run"}, "ZONE/ID/HOST:PORT"},
		{[]string{"--topology", "f", "--weight", "a-1", "--dry-run"}, "ID=W"},
		{[]string{"--topology", "f", "--remove", "a-1", "--bytes-rate", "3X", "--dry-run"}, "bytes-rate"},
	} {
		rc, _, stderr := runCLI(append([]string{"reshard"}, c.args...)...)
		if rc != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: rc %d stderr %q, want rc 2 and %q", c.args, rc, stderr, c.want)
		}
	}
	rc, _, stderr := runCLI("reshard", "-h")
	for _, f := range []string{"-add", "-remove", "-weight", "-remove-zone", "-from-zone", "-target", "-dry-run", "-json", "-rate", "-bytes-rate", "-skip-expiring", "-checkpoint", "-resume", "-concurrency", "-write-intermediate", "-write-target"} {
		if rc != 0 || !strings.Contains(stderr, f) {
			t.Errorf("reshard -h (rc %d) does not document %s", rc, f)
		}
	}
}

// TestReshardDryRunOnAStaticMemcachedFleet plans growing zone a of a stock
// memcached fleet by a-3 from a topology file, as text and as JSON, and
// checks the plan's counts against the placement of every key.
func TestReshardDryRunOnAStaticMemcachedFleet(t *testing.T) {
	ctx := context.Background()
	f, err := fleet.Start(ctx, fleet.Config{Binary: testproc.RequireMemcached(t), Memcached: true, Zones: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	cur := f.Topology()
	spare := testproc.StartMemcached(t)
	const nkeys = 600
	before, after := idRing(t, "a-1", "a-2"), idRing(t, "a-1", "a-2", "a-3")
	addrs := map[string]string{}
	for _, n := range cur.Nodes {
		addrs[n.ID] = n.Addr
	}
	want := map[string]int{} // keys per source node moving to a-3
	for i := range nkeys {
		k := fmt.Sprintf("cli:%d", i)
		from := before.Node(before.IndexString(k)).ID
		nc := nodeclient.NewNode(addrs[from], nodeclient.Config{})
		if err := nc.Online().Set(ctx, nodeclient.Item{Key: k, Value: []byte("0123456789")}); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		if after.Node(after.IndexString(k)).ID == "a-3" {
			want[from]++
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "topology.json")
	if err := writeTopology(file, cur); err != nil {
		t.Fatal(err)
	}
	args := []string{"reshard", "--topology", file, "--add", "a/a-3/" + spare.Addr, "--dry-run", "--rate", "100"}

	rc, out, errs := runCLI(append(args, "--write-target", filepath.Join(dir, "target.json"))...)
	if rc != 0 {
		t.Fatalf("rc %d\n%s%s", rc, out, errs)
	}
	t.Logf("dry run:\n%s", out)
	total := want["a-1"] + want["a-2"]
	head := fmt.Sprintf("plan: epoch 1 -> 4: 2 moves, %d keys, ", total)
	if want["a-1"] == 0 || want["a-2"] == 0 || !strings.HasPrefix(out, head) {
		t.Fatalf("want a first line %q (moves %v):\n%s", head, want, out)
	}
	for from, n := range want {
		if !regexp.MustCompile(`(?m)^a\s+` + from + ` \(\S+\)\s+a-3 \(` + regexp.QuoteMeta(spare.Addr) + `\)\s+` + fmt.Sprint(n) + `\s`).MatchString(out) {
			t.Fatalf("no line a %s -> a-3 with %d keys:\n%s", from, n, out)
		}
	}
	r, err := os.Open(filepath.Join(dir, "target.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tgt, err := replication.DecodeTopology(r)
	if n, ok := tgt.Node("a-3"); err != nil || !ok || n.Addr != spare.Addr || tgt.Epoch != 4 || len(tgt.Nodes) != 5 {
		t.Fatalf("written target %+v %v", tgt, err)
	}

	rc, out, errs = runCLI(append(args, "--json", "--bytes-rate", "0")...)
	if rc != 0 {
		t.Fatalf("--json: rc %d\n%s%s", rc, out, errs)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if p.Keys != int64(total) || len(p.Moves) != 2 || p.Stats.Moving != int64(total) || math.Abs(p.Seconds-float64(total)/100) > 0.001 {
		t.Fatalf("json plan %+v, want %d keys in 2 moves, %v s", p, total, float64(total)/100)
	}
	for _, m := range p.Moves {
		if m.To != "a-3" || m.Keys != int64(want[m.From]) || m.Bytes < m.Keys*10 {
			t.Fatalf("json move %+v, want %d keys to a-3", m, want[m.From])
		}
	}
}

// TestReshardCopiesWithResumeOnAStaticMemcachedFleet grows zone a of a
// stock memcached fleet by a-3 through the CLI: the copy is refused until
// the clients' topology has a-3 warming, is interrupted by --timeout,
// resumed, and a-3 then holds exactly the keys it owns.
func TestReshardCopiesWithResumeOnAStaticMemcachedFleet(t *testing.T) {
	ctx := context.Background()
	f, err := fleet.Start(ctx, fleet.Config{Binary: testproc.RequireMemcached(t), Memcached: true, Zones: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	cur := f.Topology()
	spare := testproc.StartMemcached(t)
	before, after := idRing(t, "a-1", "a-2"), idRing(t, "a-1", "a-2", "a-3")
	const nkeys = 600
	moving := 0
	for i := range nkeys {
		k := fmt.Sprintf("cp:%d", i)
		nc := nodeclient.NewNode(cur.Nodes[before.IndexString(k)].Addr, nodeclient.Config{})
		if err := nc.Online().Set(ctx, nodeclient.Item{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		if after.Node(after.IndexString(k)).ID == "a-3" {
			moving++
		}
	}
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	if err := writeTopology(file("cur.json"), cur); err != nil {
		t.Fatal(err)
	}
	add := "a/a-3/" + spare.Addr
	cp := file("cp.json")

	// Clients do not write to a-3 yet: the copy is refused.
	rc, out, errs := runCLI("reshard", "--topology", file("cur.json"), "--add", add, "--checkpoint", cp)
	if rc != 1 || !strings.Contains(errs, "warming") {
		t.Fatalf("copy before the intermediate topology: rc %d\n%s%s", rc, out, errs)
	}
	rc, out, errs = runCLI("reshard", "--topology", file("cur.json"), "--add", add, "--dry-run",
		"--write-intermediate", file("mid.json"), "--write-target", file("target.json"))
	if rc != 0 {
		t.Fatalf("dry run: rc %d\n%s%s", rc, out, errs)
	}
	// The clients now use mid.json (a-3 warming): the copy starts, and
	// --timeout interrupts it.
	copyArgs := []string{"reshard", "--topology", file("mid.json"), "--target", file("target.json"), "--checkpoint", cp}
	rc, out, errs = runCLI(append(copyArgs, "--rate", "100", "--timeout", "1s")...)
	if rc != 1 || !strings.Contains(errs, "--resume --checkpoint "+cp) || !strings.Contains(out, fmt.Sprintf("copy of %d keys", moving)) {
		t.Fatalf("interrupted copy: rc %d\n%s%s", rc, out, errs)
	}
	first, err := currItems(ctx, nodeclient.Config{}, spare.Addr, 5*time.Second)
	if err != nil || first == 0 || first >= uint64(moving) {
		t.Fatalf("a-3 holds %d items after the interrupted copy (%v), want some of %d", first, err, moving)
	}
	rc, out, errs = runCLI("reshard", "--resume", "--checkpoint", cp, "--rate", "0", "--json")
	if rc != 0 {
		t.Fatalf("resume: rc %d\n%s%s", rc, out, errs)
	}
	var res copyJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Done || res.Copy.Copied+res.Copy.Present == 0 {
		t.Fatalf("resume printed %q (%v)", out, err)
	}
	if n, err := currItems(ctx, nodeclient.Config{}, spare.Addr, 5*time.Second); err != nil || n != uint64(moving) {
		t.Fatalf("a-3 holds %d items (%v), want the %d it owns", n, err, moving)
	}
	a3 := nodeclient.NewNode(spare.Addr, nodeclient.Config{})
	defer a3.Close()
	for i := range nkeys {
		k := fmt.Sprintf("cp:%d", i)
		if after.Node(after.IndexString(k)).ID != "a-3" {
			continue
		}
		if it, err := a3.Online().Get(ctx, k); err != nil || string(it.Value) != k {
			t.Fatalf("%s on a-3: %q %v", k, it.Value, err)
		}
	}
}

// TestReshardCopiesOnAGossipingFleet grows zone a of a gossiping zonecached
// fleet by a-3, started warming: the plan comes from --seeds and the copy
// fills a-3 with exactly the keys it owns, leaving a newer live value alone.
func TestReshardCopiesOnAGossipingFleet(t *testing.T) {
	ctx := context.Background()
	f := reshardtest.StartGossip(t, fleet.Config{Zones: []string{"a", "b"}})
	zoneA := f.Zone("a")
	before, after := idRing(t, "a-1", "a-2"), idRing(t, "a-1", "a-2", "a-3")
	const nkeys = 400
	var moving []string
	for i := range nkeys {
		k := fmt.Sprintf("g:%d", i)
		nc := nodeclient.NewNode(zoneA[before.IndexString(k)].Addr, nodeclient.Config{})
		if err := nc.Online().Set(ctx, nodeclient.Item{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		if after.Node(after.IndexString(k)).ID == "a-3" {
			moving = append(moving, k)
		}
	}
	a3, err := f.Add(ctx, "a", "a-3", "--state", "warming")
	if err != nil {
		t.Fatal(err)
	}
	seeds := strings.Join(f.AdminAddrs(), ",")
	if _, err := fleet.WaitTopology(ctx, discovery.Config{Seeds: f.AdminAddrs()}, 5, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// A client wrote a newer value of one moving key to a-3 (warming, it
	// takes writes).
	nc := nodeclient.NewNode(a3.Addr, nodeclient.Config{})
	defer nc.Close()
	if err := nc.Online().Set(ctx, nodeclient.Item{Key: moving[0], Value: []byte("newer")}); err != nil {
		t.Fatal(err)
	}
	rc, out, errs := runCLI("reshard", "--seeds", seeds, "--add", "a/a-3/"+a3.Addr, "--checkpoint", filepath.Join(t.TempDir(), "cp"), "--json")
	if rc != 0 {
		t.Fatalf("rc %d\n%s%s", rc, out, errs)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var plan planJSON
	var res copyJSON
	if err := dec.Decode(&plan); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&res); err != nil {
		t.Fatal(err)
	}
	if plan.Keys != int64(len(moving)) || res.Copy.Copied != int64(len(moving)-1) || res.Copy.Present != 1 || !res.Done {
		t.Fatalf("plan of %d keys, copy %+v; want %d keys, all but the live one copied", plan.Keys, res, len(moving))
	}
	for i, k := range moving {
		want := k
		if i == 0 {
			want = "newer"
		}
		if it, err := nc.Online().Get(ctx, k); err != nil || string(it.Value) != want {
			t.Fatalf("%s on a-3: %q %v, want %q", k, it.Value, err, want)
		}
	}
	if n, err := currItems(ctx, nodeclient.Config{}, a3.Addr, 5*time.Second); err != nil || n != uint64(len(moving)) {
		t.Fatalf("a-3 holds %d items (%v), want %d", n, err, len(moving))
	}
}

// TestReshardRefusals checks the refusals that need no node: each says
// what to do.
func TestReshardRefusals(t *testing.T) {
	dir := t.TempDir()
	top := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a-1", Zone: "a", Addr: "127.0.0.1:1"}, {ID: "a-2", Zone: "a", Addr: "127.0.0.1:2"},
		{ID: "a-3", Zone: "a", Addr: "127.0.0.1:3", State: replication.Warming}, {ID: "b-1", Zone: "b", Addr: "127.0.0.1:4"},
	}}
	file := filepath.Join(dir, "top.json")
	if err := writeTopology(file, top); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--remove", "b-1"}, "zone b would be left with no node: add one, or remove the zone"},
		{[]string{"--remove", "a-1"}, "a-3 is warming and not in the target: finish or undo its change first"},
		{[]string{"--add", "a/a-3/127.0.0.1:3", "--add", "c/c-1/127.0.0.1:5"}, "name the zone to copy them from"},
		{[]string{"--add", "a/a-3/127.0.0.1:3", "--weight", "a-1=2", "--checkpoint", filepath.Join(dir, "cp")}, "a dead node is still listed"},
	} {
		args := append([]string{"reshard", "--topology", file}, c.args...)
		if !slices.Contains(c.args, "--checkpoint") {
			args = append(args, "--dry-run")
		}
		if rc, out, errs := runCLI(args...); rc != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: rc %d %q %q, want rc 1 and %q", c.args, rc, out, errs, c.want)
		}
	}
}
