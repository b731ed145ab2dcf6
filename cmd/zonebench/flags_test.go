package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/bench"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags([]string{"--target", "127.0.0.1:11211"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.targets) != 1 || o.targets[0] != (targetSpec{"memcached", "127.0.0.1:11211"}) || o.compare {
		t.Fatalf("targets %+v compare %v", o.targets, o.compare)
	}
	c := o.cfg
	w := c.Workload
	if w.Keys != 100_000 || w.KeySize != 16 || w.Dist != bench.Uniform || w.Mix != (bench.Mix{Get: 90, Set: 10}) ||
		w.ValueSize != (bench.SizeRange{Min: 100, Max: 100}) || w.Batch != 10 || w.TTL != 0 || w.Seed != 1 {
		t.Fatalf("workload %+v", w)
	}
	if c.Concurrency != 50 || c.Rate != 0 || c.Duration != 10*time.Second || c.Ops != 0 || !c.Prefill {
		t.Fatalf("config %+v", c)
	}
	if o.names[0] != "memcached=127.0.0.1:11211" || o.timeout != time.Second || o.slice != 2*time.Second {
		t.Fatalf("names %v timeout %v slice %v", o.names, o.timeout, o.slice)
	}
}

func TestParseFlagsEverything(t *testing.T) {
	o, err := parseFlags(strings.Fields(
		"--compare memcached=127.0.0.1:1,127.0.0.2:2 --names a,b --keys 5000 --key-size 20 --value-size 64-1024 "+
			"--dist zipf --skew 1.1 --mix get=70,set=10,delete=5,mget=15 --batch 25 --ttl 90s --duration 3s --ops 1000 "+
			"--concurrency 8 --rate 2500 --prefill=false --seed 7 --slice 500ms --warmup 1s --timeout 250ms "+
			"--json out.json --svg out.svg --title T --series --pids 11+12,13"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := bench.Config{
		Workload: bench.Workload{Keys: 5000, KeySize: 20, Dist: bench.Zipfian, Skew: 1.1,
			Mix: bench.Mix{Get: 70, Set: 10, Delete: 5, MultiGet: 15}, Batch: 25,
			ValueSize: bench.SizeRange{Min: 64, Max: 1024}, TTL: 90 * time.Second, Seed: 7},
		Concurrency: 8, Rate: 2500, Duration: 3 * time.Second, Ops: 1000,
	}
	if o.cfg.Workload != want.Workload || o.cfg.Concurrency != 8 || o.cfg.Rate != 2500 || o.cfg.Duration != want.Duration ||
		o.cfg.Ops != 1000 || o.cfg.Prefill {
		t.Fatalf("config %+v\nwant %+v", o.cfg, want)
	}
	if !o.compare || len(o.targets) != 2 || o.targets[1] != (targetSpec{"memcached", "127.0.0.2:2"}) || o.names[1] != "b" {
		t.Fatalf("targets %+v names %v", o.targets, o.names)
	}
	if o.slice != 500*time.Millisecond || o.warmup != time.Second || o.timeout != 250*time.Millisecond ||
		o.jsonPath != "out.json" || o.svgPath != "out.svg" || o.title != "T" || !o.series ||
		len(o.pids) != 2 || len(o.pids[0]) != 2 || o.pids[0][1] != 12 || o.pids[1][0] != 13 {
		t.Fatalf("options %+v", o)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range []string{
		"",
		"--target 127.0.0.1:1 --compare 127.0.0.1:1,127.0.0.1:2",
		"--compare 127.0.0.1:1",
		"--compare 127.0.0.1:1,127.0.0.1:2,127.0.0.1:3",
		"--target redis=127.0.0.1:1",
		"--target 127.0.0.1",
		"--target 127.0.0.1:0",
		"--target 127.0.0.1:1 --names a,b",
		"--target 127.0.0.1:1 --mix get=0",
		"--target 127.0.0.1:1 --value-size 10-1",
		"--target 127.0.0.1:1 --dist pareto",
		"--target 127.0.0.1:1 --skew 0",
		"--target 127.0.0.1:1 --concurrency 0",
		"--target 127.0.0.1:1 --rate -1",
		"--target 127.0.0.1:1 --keys 100000 --key-size 4",
		"--target 127.0.0.1:1 --keys 5 --batch 10 --mix mget=1",
		"--target 127.0.0.1:1 --duration 0s",
		"--target 127.0.0.1:1 --bogus",
		"--target 127.0.0.1:1 extra",
		"--target 127.0.0.1:1 --pids 1,2",
		"--target 127.0.0.1:1 --pids x",
		"--target 127.0.0.1:1 --pids 0",
	} {
		if _, err := parseFlags(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out strings.Builder
	_, err := parseFlags([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, name := range []string{"target", "compare", "names", "keys", "key-size", "value-size", "dist", "skew", "mix", "batch",
		"ttl", "duration", "ops", "concurrency", "rate", "prefill", "seed", "slice", "warmup", "timeout", "json", "svg", "title", "event", "series", "pids", "cpuprofile"} {
		if !strings.Contains(out.String(), "  -"+name+" ") && !strings.Contains(out.String(), "  -"+name+"\n") {
			t.Errorf("help lacks -%s", name)
		}
	}
	if !strings.Contains(out.String(), "memcached ") {
		t.Error("help lacks the target kinds")
	}
}

func TestParseTargetSpec(t *testing.T) {
	good := map[string]targetSpec{
		"127.0.0.1:11211":           {"memcached", "127.0.0.1:11211"},
		"memcached=localhost:11311": {"memcached", "localhost:11311"},
		" memcached=[::1]:5 ":       {"memcached", "[::1]:5"},
		"node=127.0.0.1:7":          {"node", "127.0.0.1:7"},
		"127.0.0.1:1+127.0.0.2:2":   {"memcached", "127.0.0.1:1+127.0.0.2:2"},
		"fleet=a@a/h:1+b/h:2":       {"fleet", "a@a/h:1+b/h:2"},
		"fleet=a@/etc/topo.json":    {"fleet", "a@/etc/topo.json"},
		"fleet=a@seeds:h:1+h:2":     {"fleet", "a@seeds:h:1+h:2"},
	}
	for in, want := range good {
		if got, err := parseTargetSpec(in); err != nil || got != want {
			t.Errorf("parseTargetSpec(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "=", "memcached=", "memcached=host", "x=h:1", "h:99999", ":11211", "h:p", "a b:1",
		"node=h:1+h:2", "h:1+", "h:1++h:2", "+h:1", "fleet=", "fleet=a", "fleet=@a/h:1", "fleet=a@", "fleet=a@h:1",
		"fleet=a@a/h:1+a/h:1", "fleet=a@a/h", "fleet=a b@a/h:1", "fleet=a@seeds:", "fleet=a@seeds:h"} {
		if _, err := parseTargetSpec(in); !errors.Is(err, errBadTarget) {
			t.Errorf("parseTargetSpec(%q) err %v, want errBadTarget", in, err)
		}
	}
}

func FuzzParseTargetSpec(f *testing.F) {
	for _, s := range []string{"127.0.0.1:11211", "memcached=h:1", "x=h:1", "=", "memcached=[::1]:5", "h:99999", "a,b:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseTargetSpec(s)
		if err != nil {
			if !errors.Is(err, errBadTarget) {
				t.Fatalf("parseTargetSpec(%q) error %v does not wrap errBadTarget", s, err)
			}
			return
		}
		again, err := parseTargetSpec(spec.String())
		if err != nil || again != spec {
			t.Fatalf("round trip %q → %q → %+v, %v", s, spec, again, err)
		}
		if strings.Contains(spec.Value, ",") {
			t.Fatalf("address %q holds a comma, which --compare splits on", spec.Value)
		}
	})
}

func FuzzParsePids(f *testing.F) {
	for _, s := range []string{"1", "1+2,3", "", ",", "0", "x", "1++2", "12,+"} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, s string, targets int) {
		if targets < 1 || targets > 2 {
			return
		}
		groups, err := parsePids(s, targets)
		if err != nil {
			if !errors.Is(err, errUsage) {
				t.Fatalf("parsePids(%q) error %v does not wrap errUsage", s, err)
			}
			return
		}
		if len(groups) != targets {
			t.Fatalf("parsePids(%q, %d) = %v", s, targets, groups)
		}
		for _, g := range groups {
			if len(g) == 0 {
				t.Fatalf("parsePids(%q) has an empty group: %v", s, groups)
			}
			for _, pid := range g {
				if pid < 1 {
					t.Fatalf("parsePids(%q) = %v", s, groups)
				}
			}
		}
	})
}
