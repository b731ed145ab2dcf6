package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

func TestRunAgainstMemcached(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	dir := t.TempDir()
	jsonPath, svgPath, profPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg"), filepath.Join(dir, "cpu.pprof")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--target", "memcached=" + mc.Addr, "--keys", "1000", "--ops", "20000",
		"--concurrency", "4", "--mix", "get=80,set=10,mget=10", "--batch", "5", "--json", jsonPath, "--svg", svgPath,
		"--pids", strconv.Itoa(mc.Pid()), "--timeout", "5s", "--cpuprofile", profPath}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"closed loop, 4 workers", "ops/s", "p99.9", "memcached=" + mc.Addr, "prefill", "server CPU"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") || strings.Contains(out, "\033[") {
		t.Errorf("progress line written although stdout is not a terminal:\n%q", out)
	}
	var rep struct {
		Targets []struct {
			Ops      uint64  `json:"ops"`
			Errors   uint64  `json:"errors"`
			HitRatio float64 `json:"hit_ratio"`
		} `json:"targets"`
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Ops != 20000 || rep.Targets[0].Errors != 0 || rep.Targets[0].HitRatio != 1 {
		t.Fatalf("json report %+v: want 20000 ops, no errors, all hits after the prefill", rep.Targets)
	}
	if st, err := os.Stat(profPath); err != nil || st.Size() == 0 {
		t.Fatalf("cpu profile: %v", err)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil || !bytes.HasPrefix(svg, []byte("<svg")) {
		t.Fatalf("svg file: %v %.40q", err, svg)
	}
}

func TestRunCompareTwoNodes(t *testing.T) {
	a := testproc.StartMemcached(t, "-m", "64")
	b := testproc.StartMemcachedOn(t, "127.0.0.2", "-m", "64")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--compare", a.Addr + ",node=" + b.Addr, "--names", "first,second",
		"--keys", "500", "--ops", "2000", "--concurrency", "2", "--timeout", "5s", "--json", "-"}, &stdout, &stderr, true)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	var rep struct {
		Targets []struct {
			Name string `json:"name"`
			Ops  uint64 `json:"ops"`
		} `json:"targets"`
		Ratio struct {
			Of         string   `json:"of"`
			Throughput *float64 `json:"throughput"`
		} `json:"ratio"`
	}
	// With a terminal, progress lines come first, each erased before the
	// next; the JSON follows them.
	js := stdout.String()
	if !strings.Contains(js, "\r\033[K") || !strings.Contains(js, "ops/s") {
		t.Errorf("no progress line on a terminal:\n%q", js)
	}
	if i := strings.Index(js, "{"); i >= 0 {
		js = js[i:]
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, stdout.String())
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Name != "first" || rep.Targets[1].Ops != 2000 ||
		rep.Ratio.Of != "second" || rep.Ratio.Throughput == nil || *rep.Ratio.Throughput <= 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestRunBadFlagsExit2(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--target", "nope"}, &stdout, &stderr, false); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "zonebench:") {
		t.Fatalf("stderr %q", stderr.String())
	}
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr, false); code != 0 {
		t.Fatalf("-h exit %d, want 0", code)
	}
}

func TestRunUnreachableTargetReportsErrors(t *testing.T) {
	port := testproc.FreePort(t, "127.0.0.1")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--target", "127.0.0.1:" + itoa(port), "--keys", "10", "--ops", "50",
		"--concurrency", "1", "--prefill=false", "--timeout", "200ms"}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "error ") || !strings.Contains(stdout.String(), "connect") {
		t.Fatalf("report does not show the connection errors:\n%s", stdout.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRunInterruptedPrintsPartialReport(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as if Ctrl-C came at once
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--target", mc.Addr, "--keys", "100", "--duration", "1h"}, &stdout, &stderr, false)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "context canceled") || !strings.Contains(stderr.String(), "partial results") {
		t.Fatalf("stderr %q", stderr.String())
	}
	if !strings.Contains(stdout.String(), "ops/s") {
		t.Fatalf("no partial report:\n%s", stdout.String())
	}
}

func TestRunFleetInlineTopology(t *testing.T) {
	a := testproc.StartMemcached(t, "-m", "64")
	b := testproc.StartMemcachedOn(t, "127.0.0.2", "-m", "64")
	var stdout, stderr bytes.Buffer
	spec := "fleet=east@east/" + a.Addr + "+west/" + b.Addr
	code := run(context.Background(), []string{"--target", spec, "--keys", "300", "--ops", "3000", "--concurrency", "4",
		"--mix", "get=80,set=10,mget=10", "--batch", "4", "--timeout", "5s", "--json", "-"}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep struct {
		Targets []struct {
			Ops    uint64 `json:"ops"`
			Errors uint64 `json:"errors"`
			Zones  []struct {
				Zone     string `json:"zone"`
				Requests uint64 `json:"requests"`
				Hits     uint64 `json:"hits"`
			} `json:"zones"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, stdout.String())
	}
	tr := rep.Targets[0]
	if tr.Ops != 3000 || tr.Errors != 0 || len(tr.Zones) != 2 {
		t.Fatalf("report %+v", tr)
	}
	// Reads go to the local zone (east) and hit there; writes go to both.
	east, west := tr.Zones[0], tr.Zones[1]
	if east.Zone != "east" || west.Zone != "west" || east.Hits == 0 || west.Requests == 0 || west.Hits >= east.Hits {
		t.Fatalf("zones %+v: want reads served by east, writes in both", tr.Zones)
	}
}

func TestRunFleetTopologyFile(t *testing.T) {
	a := testproc.StartMemcached(t, "-m", "64")
	path := filepath.Join(t.TempDir(), "topo.json")
	topo := `{"epoch": 3, "nodes": [{"id": "n1", "zone": "z1", "addr": "` + a.Addr + `"}]}`
	if err := os.WriteFile(path, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--target", "fleet=z1@" + path, "--keys", "100", "--ops", "500", "--concurrency", "2"},
		&stdout, &stderr, false); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "zones of fleet=z1@") {
		t.Fatalf("no zone table:\n%s", stdout.String())
	}
	if code := run(context.Background(), []string{"--target", "fleet=z1@" + filepath.Join(t.TempDir(), "missing.json")},
		&stdout, &stderr, false); code != 1 || !strings.Contains(stderr.String(), "missing.json") {
		t.Fatalf("missing topology file: exit %d, stderr %q", code, stderr.String())
	}
}

func TestRunFleetDiscoveredFromSeeds(t *testing.T) {
	// A one-node zonecached fleet: zonebench asks the node's admin
	// /topology for the fleet and measures it through the smart client.
	admin := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	zc := testproc.StartZonecached(t, "--zone", "z1", "--state", "serving", "--admin-addr", admin,
		"--gossip-addr", "127.0.0.1:0", "--gossip-profile", "local")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--target", "fleet=z1@seeds:" + admin, "--keys", "200", "--ops", "2000",
		"--concurrency", "2", "--timeout", "5s", "--json", "-"}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), zc.Output())
	}
	var rep struct {
		Targets []struct {
			Ops      uint64  `json:"ops"`
			Errors   uint64  `json:"errors"`
			HitRatio float64 `json:"hit_ratio"`
			Zones    []struct {
				Zone string `json:"zone"`
				Hits uint64 `json:"hits"`
			} `json:"zones"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, stdout.String())
	}
	tr := rep.Targets[0]
	if tr.Ops != 2000 || tr.Errors != 0 || tr.HitRatio != 1 || len(tr.Zones) != 1 || tr.Zones[0].Zone != "z1" || tr.Zones[0].Hits == 0 {
		t.Fatalf("report %+v", tr)
	}
	// No seed answering is an error before the run.
	dead := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	stderr.Reset()
	if code := run(context.Background(), []string{"--target", "fleet=z1@seeds:" + dead}, &stdout, &stderr, false); code != 1 ||
		!strings.Contains(stderr.String(), "no seed") {
		t.Fatalf("dead seed: exit %d, stderr %q", code, stderr.String())
	}
}
