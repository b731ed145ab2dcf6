package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

func TestParseProcStatCPU(t *testing.T) {
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 3 0 123456 1000000 500 18446744073709551615\n"
	if u, s, err := parseProcStatTimes([]byte(line)); err != nil || u != 250*clockTick || s != 37*clockTick {
		t.Fatalf("user, system = %v, %v, %v; want %v, %v", u, s, err, 250*clockTick, 37*clockTick)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 0"} {
		if _, _, err := parseProcStatTimes([]byte(bad)); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

func TestServerCPUOfRealMemcached(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	tg := WithServerCPU(NewMemcacheTarget(mc.Addr, 4, 5*time.Second), mc.Pid())
	defer tg.Close()
	if _, ok := tg.(CPUReporter); !ok {
		t.Fatal("WithServerCPU result is not a CPUReporter")
	}
	cfg := Config{Workload: Workload{Keys: 1000}, Concurrency: 4, Ops: 20_000, Prefill: true}
	res, err := Run(context.Background(), cfg, "memcached", tg)
	if err != nil {
		t.Fatal(err)
	}
	// 20,000 requests cost memcached well over one 10 ms clock tick.
	if res.ServerCPU <= 0 || res.ServerCPUPerOp() <= 0 {
		t.Fatalf("server cpu %v (%v/op), errors %v", res.ServerCPU, res.ServerCPUPerOp(), res.ErrorSamples)
	}
	var buf bytes.Buffer
	if err := NewReport(cfg, res).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "server CPU memcached:") {
		t.Fatalf("table lacks server CPU:\n%s", buf.String())
	}
	// A gone process is reported, not fatal.
	dead := WithServerCPU(newFake(0), 1<<30)
	res, err = Run(context.Background(), Config{Workload: Workload{Keys: 10}, Concurrency: 1, Ops: 10}, "dead", dead)
	if err != nil || res.ServerCPU != 0 || len(res.ErrorSamples) == 0 || !strings.Contains(res.ErrorSamples[0], "server cpu") {
		t.Fatalf("dead pid: err %v cpu %v samples %v", err, res.ServerCPU, res.ErrorSamples)
	}
}

func TestWithServerCPUKeepsZones(t *testing.T) {
	z := &zoneTarget{fakeTarget: newFake(0)}
	if _, ok := WithServerCPU(z, 1).(ZoneReporter); !ok {
		t.Fatal("WithServerCPU hides the ZoneReporter")
	}
	if _, ok := WithServerCPU(newFake(0), 1).(ZoneReporter); ok {
		t.Fatal("WithServerCPU invents a ZoneReporter")
	}
}

func TestParseSwitches(t *testing.T) {
	status := "Name:\tmemcached\nThreads:\t10\nvoluntary_ctxt_switches:\t1200\nnonvoluntary_ctxt_switches:\t34\n"
	if n, err := parseSwitches([]byte(status)); err != nil || n != 1234 {
		t.Fatalf("parse = %d, %v; want 1234", n, err)
	}
	for _, bad := range []string{"", "voluntary_ctxt_switches:\t12\n", "voluntary_ctxt_switches:\tx\nnonvoluntary_ctxt_switches:\t1\n"} {
		if _, err := parseSwitches([]byte(bad)); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

// TestProcessSwitchesOfRealMemcached: a memcached that served requests
// has stopped running at least once per batch of them.
func TestProcessSwitchesOfRealMemcached(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	before, err := ProcessSwitches(mc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	tg := NewMemcacheTarget(mc.Addr, 1, 5*time.Second)
	defer tg.Close()
	if _, err := Run(context.Background(), Config{Workload: Workload{Keys: 100}, Concurrency: 1, Ops: 200}, "memcached", tg); err != nil {
		t.Fatal(err)
	}
	// One request at a time: memcached waits for each next one.
	if after, err := ProcessSwitches(mc.Pid()); err != nil || after-before < 100 {
		t.Fatalf("switches %d -> %d (%v), want at least 100 more after 200 requests one at a time", before, after, err)
	}
}
