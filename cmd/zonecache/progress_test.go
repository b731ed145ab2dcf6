package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// reshardConcurrency is reshard's default --concurrency.
const reshardConcurrency = 16

func TestProgressFlagsAreDocumented(t *testing.T) {
	for cmd, flags := range map[string][]string{
		"warm":    {"-topology", "-json", "-metrics-addr", "-progress-every", "Ctrl-C", "dead node"},
		"reshard": {"-metrics-addr", "-progress-every"},
	} {
		rc, _, stderr := runCLI(cmd, "-h")
		for _, f := range flags {
			if rc != 0 || !strings.Contains(stderr, f) {
				t.Errorf("%s -h (rc %d) does not document %s", cmd, rc, f)
			}
		}
	}
	if rc, _, stderr := runCLI("warm", "--node", "a-3", "--from-zone", "b"); rc != 2 || !strings.Contains(stderr, "one of --seeds and --topology") {
		t.Errorf("warm without a topology: rc %d %q", rc, stderr)
	}
}

// TestWarmRefusesADeadNodeListed warms a-3 of a static fleet whose
// topology lists a node that does not answer: warm refuses, copying
// nothing, and says what to do.
func TestWarmRefusesADeadNodeListed(t *testing.T) {
	file, a3, _ := staticWarm(t, 100)
	top := readTopology(t, file)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead.Close()
	top.Nodes[1].Addr = dead.Addr().String() // a-2 listed, not answering
	if err := writeTopology(file, top); err != nil {
		t.Fatal(err)
	}
	rc, out, errs := runCLI("warm", "--topology", file, "--node", "a-3", "--from-zone", "b")
	if rc != 1 || !strings.Contains(errs, "topology unsettled: node a-2") || !strings.Contains(errs, "wait until gossip drops it, or take it out of the topology") {
		t.Fatalf("rc %d %q %q, want a refusal naming a-2 and what to do", rc, out, errs)
	}
	if n, err := currItems(context.Background(), nodeclient.Config{}, a3, 5*time.Second); err != nil || n != 0 {
		t.Fatalf("a-3 holds %d items (%v) after the refusal", n, err)
	}
}

func readTopology(t *testing.T, file string) replication.Topology {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	top, err := replication.DecodeTopology(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// TestLiveDisplayRedrawsInPlace feeds a terminal display two snapshots 2 s
// apart: the second is drawn over the first, with the rates and ETA of
// the 2 s between them.
func TestLiveDisplayRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	t0 := time.Now()
	w := &watch{show: &liveDisplay{out: &out, title: "reshard"}, history: []snapshot{{at: t0}}}
	snap := func(at time.Time, tried int64) snapshot {
		return snapshot{at: at, skipped: map[string]int64{"present": 0, "gone": 0}, rows: []row{
			{from: "a-1", to: "a-3", copied: tried, bytes: tried * 1024, tried: tried, left: 200 - tried, leftBytes: (200 - tried) * 1024, known: true},
			{from: "a-2", to: "a-3", left: 10, known: true},
		}}
	}
	w.add(snap(t0.Add(time.Second), 20))
	first := out.Len()
	w.add(snap(t0.Add(2*time.Second), 100))
	second := out.String()[first:]
	if regexp.MustCompile(`\x1b\[\d+A`).MatchString(out.String()[:first]) {
		t.Fatalf("first frame moves up: %q", out.String()[:first])
	}
	if !strings.HasPrefix(second, "\x1b[4A") || strings.Count(second, "\r\x1b[K") != 4 {
		t.Fatalf("second frame %q: want the cursor 4 lines up and 4 lines redrawn", second)
	}
	if !regexp.MustCompile(`total\s+100 keys\s+100.0 KiB\s+left 110\s+50 keys/s\s+50.0 KiB/s\s+ETA 2s`).MatchString(second) {
		t.Fatalf("second frame %q: want a total line", second)
	}
	// a-1 -> a-3: 100 items in 2 s, 100 left: 50 keys/s, ETA 2s.
	if !regexp.MustCompile(`a-1 -> a-3\s+100 keys\s+100.0 KiB\s+left 100\s+50 keys/s\s+50.0 KiB/s\s+ETA 2s`).MatchString(second) {
		t.Fatalf("second frame %q: want a-1's line with 50 keys/s and ETA 2s", second)
	}
	if !regexp.MustCompile(`a-2 -> a-3\s+0 keys .* left 10\s+0 keys/s .* ETA \?`).MatchString(second) {
		t.Fatalf("second frame %q: want a-2's line with an unknown ETA", second)
	}
}

// staticGrow starts a stock memcached zone a (a-1, a-2) and a spare for
// a-3, writes n keys to their owners, and writes the topology files of a
// reshard adding a-3: cur.json, mid.json (a-3 warming) and target.json.
// It returns the directory, a-3's address and the keys a-3 takes.
func staticGrow(t *testing.T, n int) (dir, a3 string, moving []string) {
	t.Helper()
	ctx := context.Background()
	f, err := fleet.Start(ctx, fleet.Config{Binary: testproc.RequireMemcached(t), Memcached: true, Zones: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	cur := f.Topology()
	spare := testproc.StartMemcached(t)
	before, after := idRing(t, "a-1", "a-2"), idRing(t, "a-1", "a-2", "a-3")
	for i := range n {
		k := fmt.Sprintf("pr:%d", i)
		setKey(t, cur.Nodes[before.IndexString(k)].Addr, k)
		if after.Node(after.IndexString(k)).ID == "a-3" {
			moving = append(moving, k)
		}
	}
	dir = t.TempDir()
	if err := writeTopology(filepath.Join(dir, "cur.json"), cur); err != nil {
		t.Fatal(err)
	}
	if rc, out, errs := runCLI("reshard", "--topology", filepath.Join(dir, "cur.json"), "--add", "a/a-3/"+spare.Addr, "--dry-run",
		"--write-intermediate", filepath.Join(dir, "mid.json"), "--write-target", filepath.Join(dir, "target.json")); rc != 0 {
		t.Fatalf("dry run: rc %d\n%s%s", rc, out, errs)
	}
	return dir, spare.Addr, moving
}

// setKey sets key k, with k for value, on the node at addr.
func setKey(t *testing.T, addr, k string) {
	t.Helper()
	nc := nodeclient.NewNode(addr, nodeclient.Config{})
	defer nc.Close()
	if err := nc.Online().Set(context.Background(), nodeclient.Item{Key: k, Value: []byte(k)}); err != nil {
		t.Fatal(err)
	}
}

// metric returns the value of the sample of /metrics at addr whose name
// and labels are series; ok is false when there is none.
func metric(addr, series string) (v float64, ok bool) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	v, err = strconv.ParseFloat(string(m[1]), 64)
	return v, err == nil
}

// TestReshardShowsProgressMetricsAndWhatIsLeft copies a reshard of a
// static memcached fleet through the CLI, not on a terminal, at 100 keys/s
// until --timeout stops it: /metrics shows the counters while it runs,
// stderr has progress lines, and stdout the summary with what is left,
// which --resume then copies.
func TestReshardShowsProgressMetricsAndWhatIsLeft(t *testing.T) {
	dir, a3, moving := staticGrow(t, 1500)
	maddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testproc.FreePort(t, "127.0.0.1")))
	cp := filepath.Join(dir, "cp")
	var stdout, stderr testproc.SyncBuffer
	done := make(chan int)
	go func() {
		done <- run(context.Background(), []string{"reshard", "--topology", filepath.Join(dir, "mid.json"), "--target", filepath.Join(dir, "target.json"),
			"--checkpoint", cp, "--rate", "100", "--timeout", "4s", "--progress-every", "500ms", "--metrics-addr", maddr}, &stdout, &stderr)
	}()
	a1 := `zonecache_reshard_keys_copied_total{from="a-1",to="a-3"}`
	testproc.Eventually(t, 30*time.Second, "copied keys on /metrics", func() bool { v, _ := metric(maddr, a1); return v > 0 })
	if left, _ := metric(maddr, `zonecache_reshard_keys_left{from="a-1",to="a-3"}`); left <= 0 {
		t.Fatalf("keys_left of a-1 -> a-3 during the copy: %v", left)
	}
	if bytes, _ := metric(maddr, `zonecache_reshard_bytes_copied_total{from="a-1",to="a-3"}`); bytes <= 0 {
		t.Fatalf("bytes_copied_total of a-1 -> a-3 during the copy: %v", bytes)
	}
	for _, s := range []string{`zonecache_reshard_keys_skipped_total{reason="present"}`, "zonecache_reshard_errors_total", "zonecache_reshard_eta_seconds"} {
		if _, ok := metric(maddr, s); !ok {
			t.Fatalf("no %s on /metrics", s)
		}
	}
	if rc := <-done; rc != 1 {
		t.Fatalf("rc %d, want 1 (interrupted)\n%s%s", rc, stdout.String(), stderr.String())
	}
	out, errs := stdout.String(), stderr.String()
	t.Logf("stdout:\n%sstderr:\n%s", out, errs)
	// Every moving key was tried (copied, gone, present or failed: one
	// cut by the deadline may fail) or is left.
	stats := regexp.MustCompile(`copied=(\d+) bytes=\d+ gone=(\d+) present=(\d+) failed=(\d+) `).FindStringSubmatch(out)
	left := regexp.MustCompile(`(?m)^left: (\d+) keys`).FindStringSubmatch(out)
	if stats == nil || left == nil {
		t.Fatalf("summary without the copy's stats or left:\n%s", out)
	}
	nc, _ := strconv.Atoi(stats[1])
	nl, _ := strconv.Atoi(left[1])
	tried := nc
	for _, n := range stats[2:] {
		v, _ := strconv.Atoi(n)
		tried += v
	}
	if nc == 0 || nl == 0 || tried+nl != len(moving) {
		t.Fatalf("summary: %d copied, %d tried and %d left, want some copied and left, adding up to %d", nc, tried, nl, len(moving))
	}
	// Items in flight when the copy stopped may have been stored, not counted.
	if n, err := currItems(context.Background(), nodeclient.Config{}, a3, 5*time.Second); err != nil || n < uint64(nc) || n > uint64(nc+reshardConcurrency) {
		t.Fatalf("a-3 holds %d items (%v), the summary says %d copied", n, err, nc)
	}
	if !regexp.MustCompile(`(?m)^  a-[12] -> a-3  \d+ keys`).MatchString(out) || !strings.Contains(errs, "--resume --checkpoint "+cp) {
		t.Fatalf("summary without per-move lines, or no way to continue:\n%s%s", out, errs)
	}
	progress := regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=progress .*copied=\d+ .*left=\d+ keys_per_sec=\S+ .*eta=\S+`).FindAllString(errs, -1)
	moves := regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=(progress|done) from=a-[12] to=a-3 copied=\d+`).FindAllString(errs, -1)
	if len(progress) < 2 || len(moves) < 2 || !strings.Contains(errs, "msg=done elapsed=") || !strings.Contains(errs, "serving metrics") {
		t.Fatalf("stderr has %d progress lines, %d move lines; want several, a done line and the metrics URL", len(progress), len(moves))
	}
	if _, ok := metric(maddr, a1); ok {
		t.Fatal("/metrics still served after the command returned")
	}

	// The resume copies what was left; an item stored while the deadline
	// cut its copy short was not counted, and is found present.
	rc, out, errs := runCLI("reshard", "--resume", "--checkpoint", cp, "--rate", "0", "--json")
	var res copyJSON
	if err := json.Unmarshal([]byte(out), &res); rc != 0 || err != nil || !res.Done || len(res.Left) != 0 ||
		res.Copy.Copied+res.Copy.Present < int64(nl) || res.Copy.Present > reshardConcurrency {
		t.Fatalf("resume: rc %d %q %q", rc, out, errs)
	}
	if !strings.Contains(errs, `"msg":"done"`) {
		t.Fatalf("--json progress lines are not JSON: %q", errs)
	}
}

// staticWarm starts stock memcached nodes a-1, a-2 (serving), a-3
// (warming), b-1, b-2 (serving), writes n keys to their owners in zone b,
// and writes the topology file; it returns its path, a-3's address and
// the keys a-3 owns.
func staticWarm(t *testing.T, n int) (file, a3 string, owned []string) {
	t.Helper()
	top := replication.Topology{Epoch: 1}
	for _, id := range []string{"a-1", "a-2", "a-3", "b-1", "b-2"} {
		nd := replication.Node{ID: id, Zone: id[:1], Addr: testproc.StartMemcached(t).Addr}
		if id == "a-3" {
			nd.State, a3 = replication.Warming, nd.Addr
		}
		top.Nodes = append(top.Nodes, nd)
	}
	bRing := idRing(t, "b-1", "b-2")
	aRing, err := sharding.New([]sharding.Node{{ID: "a-1"}, {ID: "a-2"}, {ID: "a-3"}}, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		k := fmt.Sprintf("w:%d", i)
		owner, _ := top.Node(bRing.Node(bRing.IndexString(k)).ID)
		setKey(t, owner.Addr, k)
		if aRing.Node(aRing.IndexString(k)).ID == "a-3" {
			owned = append(owned, k)
		}
	}
	file = filepath.Join(t.TempDir(), "top.json")
	if err := writeTopology(file, top); err != nil {
		t.Fatal(err)
	}
	return file, a3, owned
}

// TestWarmShowsProgressAndASummary warms a-3 of a static fleet through the
// CLI, not on a terminal: /metrics shows the copy while it runs, stderr
// has the progress lines, per source node too, stdout the summary, with
// nothing left; --json prints JSON.
func TestWarmShowsProgressAndASummary(t *testing.T) {
	file, a3, owned := staticWarm(t, 600)
	maddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testproc.FreePort(t, "127.0.0.1")))
	var stdout, stderr testproc.SyncBuffer
	done := make(chan int)
	go func() {
		done <- run(context.Background(), []string{"warm", "--topology", file, "--node", "a-3", "--from-zone", "b", "--rate", "100",
			"--progress-every", "0s", "--metrics-addr", maddr}, &stdout, &stderr)
	}()
	testproc.Eventually(t, 30*time.Second, "copied keys on /metrics", func() bool {
		v, _ := metric(maddr, `zonecache_warm_keys_copied_total{from="b-1",to="a-3"}`)
		return v > 0
	})
	if v, ok := metric(maddr, `zonecache_warm_keys_skipped_total{reason="not_owned"}`); !ok || v == 0 {
		t.Fatalf("zonecache_warm_keys_skipped_total{reason=not_owned} during the copy: %v %v", v, ok)
	}
	rc, out, errs := <-done, stdout.String(), stderr.String()
	if rc != 0 {
		t.Fatalf("rc %d\n%s%s", rc, out, errs)
	}
	t.Logf("stdout:\n%sstderr:\n%s", out, errs)
	if want := fmt.Sprintf("scanned=600 copied=%d ", len(owned)); !strings.HasPrefix(out, "a-3 from zone b in ") || !strings.Contains(out, want) || strings.Contains(out, "left:") {
		t.Fatalf("summary %q: want %q and nothing left", out, want)
	}
	if !regexp.MustCompile(`msg=progress .*copied=[1-9]\d* `).MatchString(errs) ||
		!regexp.MustCompile(fmt.Sprintf(`msg=done elapsed=\S+ copied=%d .*left=0 .*skipped_not_owned=\d+`, len(owned))).MatchString(errs) ||
		!regexp.MustCompile(`msg=done from=b-2 to=a-3 copied=[1-9]\d* .*left=0 dumped=true`).MatchString(errs) {
		t.Fatalf("stderr without progress lines, a done line or per source lines:\n%s", errs)
	}
	if n, err := currItems(context.Background(), nodeclient.Config{}, a3, 5*time.Second); err != nil || n != uint64(len(owned)) {
		t.Fatalf("a-3 holds %d items (%v), want %d", n, err, len(owned))
	}
	rc, out, errs = runCLI("warm", "--topology", file, "--node", "a-3", "--from-zone", "b", "--json")
	var res warmJSON
	if err := json.Unmarshal([]byte(out), &res); rc != 0 || err != nil || !res.Done || len(res.Left) != 0 || res.Stats.SkippedPresent != int64(len(owned)) {
		t.Fatalf("--json rerun: rc %d %q %q", rc, out, errs)
	}
}

// TestWarmInterruptedBySIGINTSaysWhatIsLeft runs the zonecache binary's
// warm at 20 keys/s and sends it SIGINT once it has copied some keys: it
// exits 1 with a summary of what it copied, what is left and how to go
// on; running it again copies the rest.
func TestWarmInterruptedBySIGINTSaysWhatIsLeft(t *testing.T) {
	file, a3, owned := staticWarm(t, 600)
	args := []string{"warm", "--topology", file, "--node", "a-3", "--from-zone", "b"}
	cmd := exec.Command(testproc.Binary(t, "zonecache"), append(args, "--rate", "20", "--progress-every", "100ms")...)
	var stdout, stderr testproc.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	testproc.Eventually(t, 30*time.Second, "a progress line with keys copied", func() bool {
		return regexp.MustCompile(`msg=progress .*copied=[1-9]`).MatchString(stderr.String())
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	out, errs := stdout.String(), stderr.String()
	t.Logf("stdout:\n%sstderr:\n%s", out, errs)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1", err)
	}
	copied := regexp.MustCompile(`copied=(\d+) `).FindStringSubmatch(out)
	left := regexp.MustCompile(`(?m)^left: ([1-9]\d*) keys`).FindStringSubmatch(out)
	if copied == nil || left == nil || !strings.Contains(out, "b-2 -> a-3  not dumped yet") || !strings.Contains(errs, "run the same command again to continue") {
		t.Fatalf("summary without copied, left, the source not dumped, or how to continue")
	}
	// An item in flight at SIGINT may have been stored, counted an error.
	nc, _ := strconv.ParseUint(copied[1], 10, 64)
	n, err := currItems(context.Background(), nodeclient.Config{}, a3, 5*time.Second)
	if err != nil || n < nc || n > nc+1 {
		t.Fatalf("a-3 holds %d items (%v), the summary says %d copied", n, err, nc)
	}
	if rc, out, errs := runCLI(args...); rc != 0 || !strings.Contains(out, fmt.Sprintf("present=%d)", n)) {
		t.Fatalf("rerun: rc %d %q %q, want the %d keys copied before present", rc, out, errs, n)
	}
	if n, err := currItems(context.Background(), nodeclient.Config{}, a3, 5*time.Second); err != nil || n != uint64(len(owned)) {
		t.Fatalf("a-3 holds %d items after the rerun (%v), want %d", n, err, len(owned))
	}
}

// TestWarmCheckpointResumesAfterSIGINT runs the zonecache binary's warm
// with --checkpoint at 20 keys/s and sends it SIGINT once it has copied
// some keys: it exits 1 saying how to resume; --resume --checkpoint then
// copies the rest without starting over (fewer keys found present than
// were copied before the interruption), and a-3 holds every key it owns.
func TestWarmCheckpointResumesAfterSIGINT(t *testing.T) {
	file, a3, owned := staticWarm(t, 600)
	cp := filepath.Join(t.TempDir(), "warm.cp")
	cmd := exec.Command(testproc.Binary(t, "zonecache"), "warm", "--topology", file, "--node", "a-3", "--from-zone", "b",
		"--checkpoint", cp, "--rate", "20", "--progress-every", "100ms")
	var stdout, stderr testproc.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	testproc.Eventually(t, 30*time.Second, "40 keys copied", func() bool {
		n, err := currItems(context.Background(), nodeclient.Config{}, a3, time.Second)
		return err == nil && n >= 40
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	out, errs := stdout.String(), stderr.String()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(errs, "rerun with --resume --checkpoint "+cp) {
		t.Fatalf("exit %v, want status 1 and how to resume:\n%s%s", err, out, errs)
	}
	before, err := currItems(context.Background(), nodeclient.Config{}, a3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rc, out, errs := runCLI("warm", "--resume", "--checkpoint", cp, "--concurrency", "4")
	t.Logf("interrupted with %d keys on a-3; resumed:\n%s%s", before, out, errs)
	m := regexp.MustCompile(`copied=(\d+) .* present=(\d+) failed=0`).FindStringSubmatch(out)
	if rc != 0 || m == nil {
		t.Fatalf("resume: rc %d %q %q", rc, out, errs)
	}
	if present, _ := strconv.ParseUint(m[2], 10, 64); present >= before {
		t.Fatalf("resume found %d keys present of the %d copied before: it started over", present, before)
	}
	if n, err := currItems(context.Background(), nodeclient.Config{}, a3, 5*time.Second); err != nil || n != uint64(len(owned)) {
		t.Fatalf("a-3 holds %d items after the resume (%v), want %d", n, err, len(owned))
	}
}
