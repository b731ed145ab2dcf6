package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

func TestReshardUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--add", "a/a-3/127.0.0.1:1", "--dry-run"}, "one of --seeds and --topology"},
		{[]string{"--topology", "f", "--add", "a/a-3/127.0.0.1:1"}, "only --dry-run"},
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
	for _, f := range []string{"-add", "-remove", "-weight", "-remove-zone", "-from-zone", "-target", "-dry-run", "-json", "-rate", "-bytes-rate", "-skip-expiring"} {
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
	ring := func(ids ...string) *sharding.Ring {
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
	before, after := ring("a-1", "a-2"), ring("a-1", "a-2", "a-3")
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
	head := fmt.Sprintf("plan: epoch 1 -> 3: 2 moves, %d keys, ", total)
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
	if n, ok := tgt.Node("a-3"); err != nil || !ok || n.Addr != spare.Addr || tgt.Epoch != 3 || len(tgt.Nodes) != 5 {
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
