package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/reshardtest"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
)

// lineWatcher is a writer that calls on with every line written to it, and
// keeps them.
type lineWatcher struct {
	mu  sync.Mutex
	buf bytes.Buffer
	pw  *io.PipeWriter
}

func watchLines(on func(string)) (*lineWatcher, func()) {
	pr, pw := io.Pipe()
	w := &lineWatcher{pw: pw}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			on(sc.Text())
		}
	}()
	return w, func() { pw.Close(); <-done }
}

func (w *lineWatcher) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(b)
	w.mu.Unlock()
	return w.pw.Write(b)
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// runUntil runs zonecache reshard with args and cancels its context (as
// Ctrl-C does) once stop, called with each line printed on stdout and
// every 20 ms with "", says so.
func runUntil(stop func(line string) bool, args ...string) (int, string, string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, wait := watchLines(func(line string) {
		if stop(line) {
			cancel()
		}
	})
	stderr, waitErr := watchLines(func(string) {})
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				if stop("") {
					cancel()
				}
			}
		}
	}()
	rc := run(ctx, append([]string{"reshard"}, args...), stdout, stderr)
	close(done)
	wait()
	waitErr()
	return rc, stdout.String(), stderr.String()
}

// TestReshardGrowsAndShrinksAGossipingFleetEndToEnd grows zone a of a
// gossiping zonecached fleet by a-3 (started warming) with one command,
// then shrinks it back with another, the test stopping a-3 when the
// command says to. After each, every node of zone a holds exactly the
// keys it owns (the moved ones purged from their previous owners) and a
// client of zone a alone hits every key.
func TestReshardGrowsAndShrinksAGossipingFleetEndToEnd(t *testing.T) {
	ctx := context.Background()
	f := reshardtest.StartGossip(t, fleet.Config{Zones: []string{"a", "b"}, DrainTimeout: time.Second})
	keys := reshardtest.Keys("e2e", 400)
	reshardtest.SetOwners(t, f.Topology(), keys)
	a3, err := f.Add(ctx, "a", "a-3", "--state", "warming")
	if err != nil {
		t.Fatal(err)
	}
	seeds := discovery.Config{Seeds: f.AdminAddrs()}
	if _, err := fleet.WaitTopology(ctx, seeds, 5, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	common := []string{"reshard", "--seeds", strings.Join(f.AdminAddrs(), ","), "--admin", "a-3=" + a3.AdminAddr, "--view-lag", "500ms",
		"--admin-token-file", f.AdminTokenFile()}
	rc, out, errs := runCLI(append(common, "--add", "a/a-3/"+a3.Addr, "--checkpoint", filepath.Join(t.TempDir(), "grow"), "--json")...)
	t.Logf("grow:\n%s%s", out, errs)
	if rc != 0 || !strings.Contains(errs, "cutover: a-3 ("+a3.Addr+") is serving") || !strings.Contains(errs, "reshard done") {
		t.Fatalf("grow: rc %d\n%s%s", rc, out, errs)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var plan planJSON
	var copied copyJSON
	var done doneJSON
	for _, v := range []any{&plan, &copied, &done} {
		if err := dec.Decode(v); err != nil {
			t.Fatalf("--json output: %v\n%s", err, out)
		}
	}
	if plan.Keys == 0 || copied.Copy.Copied != plan.Keys || !copied.Done || done.Done != reshard.StepCleanup || done.Purge.Nodes != 3 {
		t.Fatalf("--json: plan %+v, copy %+v, end %+v", plan, copied, done)
	}
	top, err := fleet.WaitTopology(ctx, seeds, 5, 5*time.Second)
	if n, _ := top.Node("a-3"); err != nil || n.EffectiveState() != replication.Serving {
		t.Fatalf("after the grow: %+v %v", top, err)
	}
	reshardtest.CheckHeldExactly(t, top, "a", keys)

	stdout, wait := watchLines(func(line string) {
		if strings.HasPrefix(line, "cutover: stop a-3") {
			go func() { _ = a3.Terminate(10 * time.Second) }()
		}
	})
	var stderr bytes.Buffer
	rc = run(ctx, append(common, "--remove", "a-3", "--checkpoint", filepath.Join(t.TempDir(), "shrink")), stdout, &stderr)
	wait()
	t.Logf("shrink:\n%s", stdout)
	if rc != 0 || !strings.Contains(stdout.String(), "intermediate: a-3 ("+a3.Addr+") is draining") || !strings.Contains(stdout.String(), "reshard done") {
		t.Fatalf("shrink: rc %d\n%s%s", rc, stdout, &stderr)
	}
	testproc.Eventually(t, 15*time.Second, "a-3 exits", func() bool { return !a3.Running() })
	top, err = fleet.WaitTopology(ctx, seeds, 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	reshardtest.CheckHeldExactly(t, top, "a", keys)
}

// TestReshardStaticMemcachedFleetEndToEndWithResume grows zone a of a
// stock memcached fleet whose clients load clients.json, with the command
// interrupted (as by Ctrl-C) in the wait for the clients after the
// intermediate topology, in the copy, in the wait after the switch (the
// clients read a-3, draining, while the old owners still take writes) and
// in the wait after the cutover, each time resumed with --resume; the
// command writes each topology to clients.json in turn.
func TestReshardStaticMemcachedFleetEndToEndWithResume(t *testing.T) {
	ctx := context.Background()
	f, err := fleet.Start(ctx, fleet.Config{Binary: testproc.RequireMemcached(t), Memcached: true, Zones: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	cur := f.Topology()
	spare := testproc.StartMemcached(t)
	keys := reshardtest.Keys("st", 600)
	reshardtest.SetOwners(t, cur, keys)
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	if err := writeTopology(file("cur.json"), cur); err != nil {
		t.Fatal(err)
	}
	cp := file("cp")
	clients := file("clients.json")
	resume := func(args ...string) (int, string, string) {
		return runCLI(append([]string{"reshard", "--resume", "--checkpoint", cp}, args...)...)
	}
	waitingFor := func(line string) bool { return strings.Contains(line, "waiting 1h0m0s for clients") }
	rc, out, errs := runUntil(waitingFor, "--topology", file("cur.json"), "--add", "a/a-3/"+spare.Addr, "--checkpoint", cp,
		"--write-intermediate", clients, "--write-target", clients, "--view-lag", "1h")
	if rc != 1 || !strings.Contains(errs, "interrupted in step intermediate") || !strings.Contains(errs, "--resume --checkpoint "+cp) {
		t.Fatalf("run in the wait for the clients: rc %d\n%s%s", rc, out, errs)
	}
	if mid, err := loadTopology(clients); err != nil || mid.Epoch != 2 || len(mid.Nodes) != 5 || mid.Nodes[4].State != replication.Warming {
		t.Fatalf("clients.json after the intermediate step: %+v %v", mid, err)
	}
	copying := func(string) bool {
		n, err := currItems(ctx, nodeclient.Config{}, spare.Addr, time.Second)
		return err == nil && n > 0
	}
	rc, out, errs = runUntil(copying, "--resume", "--checkpoint", cp, "--view-lag", "100ms", "--rate", "100")
	if rc != 1 || !strings.Contains(errs, "interrupted") || !strings.Contains(out, "copy of ") {
		t.Fatalf("resume into the copy: rc %d\n%s%s", rc, out, errs)
	}
	rc, out, errs = runUntil(waitingFor, "--resume", "--checkpoint", cp, "--view-lag", "1h", "--rate", "0")
	if rc != 1 || !strings.Contains(errs, "interrupted in step switch") {
		t.Fatalf("resume into the switch: rc %d\n%s%s", rc, out, errs)
	}
	if sw, err := loadTopology(clients); err != nil || sw.Epoch != 3 || len(sw.Nodes) != 5 || sw.Nodes[4].State != replication.Draining {
		t.Fatalf("clients.json after the switch (a-3 draining: reads, and the old owners still written): %+v %v", sw, err)
	}
	cutoverWait := func(line string) bool { return strings.HasPrefix(line, "cutover: waiting") }
	rc, out, errs = runUntil(cutoverWait, "--resume", "--checkpoint", cp, "--view-lag", "1s")
	if rc != 1 || !strings.Contains(errs, "interrupted in step cutover") {
		t.Fatalf("resume into the cutover: rc %d\n%s%s", rc, out, errs)
	}
	tgt, err := loadTopology(clients)
	if err != nil || tgt.Epoch != 4 || len(tgt.Nodes) != 5 || tgt.Nodes[4].EffectiveState() != replication.Serving {
		t.Fatalf("clients.json after the cutover: %+v %v", tgt, err)
	}
	rc, out, errs = resume("--view-lag", "0")
	if rc != 0 || !strings.Contains(out, "purged of the items they do not own: nodes=3 ") || !strings.Contains(out, "reshard done") {
		t.Fatalf("resume into the cleanup: rc %d\n%s%s", rc, out, errs)
	}
	reshardtest.CheckHeldExactly(t, tgt, "a", keys)
	reshardtest.CheckHeldExactly(t, tgt, "b", keys)
	if rc, out, errs = resume(); rc != 0 || !strings.Contains(out, "reshard done") {
		t.Fatalf("resume when done: rc %d\n%s%s", rc, out, errs)
	}
}

// TestReshardRefusesWhatItCannotDoSafely checks the refusals of a run,
// before anything changes: each says what to do.
func TestReshardRefusesWhatItCannotDoSafely(t *testing.T) {
	dir := t.TempDir()
	top := replication.Topology{Epoch: 1, Nodes: []replication.Node{
		{ID: "a-1", Zone: "a", Addr: "127.0.0.1:1"}, {ID: "a-2", Zone: "a", Addr: "127.0.0.1:2"}, {ID: "b-1", Zone: "b", Addr: "127.0.0.1:4"},
	}}
	file := filepath.Join(dir, "top.json")
	if err := writeTopology(file, top); err != nil {
		t.Fatal(err)
	}
	mid := filepath.Join(dir, "mid.json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--add", "a/a-3/127.0.0.1:3", "--remove", "a-1,a-2"}, "zone a would be left with no serving node during the copy"},
		{[]string{"--add", "a/a-3/127.0.0.1:3"}, "new node a-3 (127.0.0.1:3) does not answer"},
		{[]string{"--remove", "a-2"}, "node a-1 (127.0.0.1:1) does not answer"},
	} {
		args := append([]string{"reshard", "--topology", file, "--checkpoint", filepath.Join(dir, "cp"), "--write-intermediate", mid}, c.args...)
		if rc, out, errs := runCLI(args...); rc != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: rc %d %q %q, want rc 1 and %q", c.args, rc, out, errs, c.want)
		}
		if _, err := loadTopology(mid); err == nil {
			t.Fatalf("%q: the intermediate topology was written", c.args)
		}
	}
	if rc, _, errs := runCLI("reshard", "--seeds", "127.0.0.1:1", "--admin", "a-3", "--remove", "a-1", "--checkpoint", "x"); rc != 2 || !strings.Contains(errs, "ID=HOST:PORT") {
		t.Errorf("--admin without an address: rc %d %q", rc, errs)
	}
	rc, out, errs := runCLI("reshard", "--resume", "--checkpoint", filepath.Join(dir, "none"))
	if rc != 1 || !strings.Contains(errs, "bad checkpoint") {
		t.Errorf("resume of no checkpoint: rc %d %q %q", rc, out, errs)
	}
}

func TestReshardHelpSaysTheSteps(t *testing.T) {
	rc, _, stderr := runCLI("reshard", "-h")
	for _, s := range []string{"-admin", "-view-lag", "  plan ", "  intermediate ", "  copy ", "  switch ", "  cutover ", "  cleanup ", "--resume continues at the step"} {
		if rc != 0 || !strings.Contains(stderr, s) {
			t.Errorf("reshard -h (rc %d) does not say %q", rc, s)
		}
	}
}

// TestReshardRemovesAZoneOfAGossipingFleetWithoutAdmin removes zone c of a
// gossiping fleet with no --admin: with only zones a's and b's admin
// addresses as seeds it refuses, before anything changes, saying what to
// give; with c-1's among the seeds it finds c-1's admin address there
// (GET /node), sets c-1 warming, and the test stops c-1 when told.
func TestReshardRemovesAZoneOfAGossipingFleetWithoutAdmin(t *testing.T) {
	ctx := context.Background()
	f := reshardtest.StartGossip(t, fleet.Config{Zones: []string{"a", "b", "c"}, NodesPerZone: 1, DrainTimeout: time.Second})
	c1 := f.Zone("c")[0]
	args := func(seeds []string, cp string) []string {
		return []string{"reshard", "--seeds", strings.Join(seeds, ","), "--remove-zone", "c", "--view-lag", "500ms",
			"--admin-token-file", f.AdminTokenFile(), "--checkpoint", filepath.Join(t.TempDir(), cp)}
	}
	rc, out, errs := runCLI(args([]string{f.Zone("a")[0].AdminAddr, f.Zone("b")[0].AdminAddr}, "refused")...)
	if rc != 1 || !strings.Contains(errs, "node c-1 is to be warming with weight 1 (next 0) and has no admin address: give it (--admin c-1=HOST:PORT), or list it in the seeds") {
		t.Fatalf("without c-1's admin address: rc %d\n%s%s", rc, out, errs)
	}
	if st, err := c1.Admin().State(ctx); err != nil || st != replication.Serving {
		t.Fatalf("c-1 after the refusal: %s %v, want serving", st, err)
	}
	stdout, wait := watchLines(func(line string) {
		if strings.HasPrefix(line, "cutover: stop c-1") {
			go func() { _ = c1.Terminate(10 * time.Second) }()
		}
	})
	var stderr bytes.Buffer
	rc = run(ctx, args(f.AdminAddrs(), "removed"), stdout, &stderr)
	wait()
	if rc != 0 || !strings.Contains(stdout.String(), "intermediate: c-1 ("+c1.Addr+") is warming") || !strings.Contains(stdout.String(), "reshard done") {
		t.Fatalf("with c-1 among the seeds: rc %d\n%s%s", rc, stdout, &stderr)
	}
	top, err := fleet.WaitTopology(ctx, discovery.Config{Seeds: []string{f.Zone("a")[0].AdminAddr, f.Zone("b")[0].AdminAddr}}, 2, 15*time.Second)
	if err != nil || slices.Contains(top.Zones(), "c") {
		t.Fatalf("after removing zone c: %+v %v", top, err)
	}
}
