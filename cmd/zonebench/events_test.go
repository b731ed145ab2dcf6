package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

func TestParseEvent(t *testing.T) {
	ev, err := parseEvent("1.5s=kill -STOP 1234", nil)
	if err != nil || ev.At != 1500*time.Millisecond || ev.Label != "kill -STOP 1234" || ev.Do == nil {
		t.Fatalf("parseEvent = %+v, %v", ev, err)
	}
	if ev, err := parseEvent("0s= echo a=b ", nil); err != nil || ev.Label != "echo a=b" {
		t.Fatalf("command with '=': %+v, %v", ev, err)
	}
	for _, in := range []string{"", "10s", "10s=", "x=echo", "-1s=echo", "=echo"} {
		if _, err := parseEvent(in, nil); !errors.Is(err, errBadEvent) {
			t.Errorf("parseEvent(%q) err %v, want errBadEvent", in, err)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{"10s=kill -STOP 1", "1m30s=echo x", "=", "5s=", "x=y", "-1s=z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := parseEvent(s, nil)
		if err != nil {
			if !errors.Is(err, errBadEvent) {
				t.Fatalf("parseEvent(%q) error %v does not wrap errBadEvent", s, err)
			}
			return
		}
		if ev.At < 0 || strings.TrimSpace(ev.Label) == "" || ev.Do == nil {
			t.Fatalf("parseEvent(%q) = %+v", s, ev)
		}
	})
}

func TestRunWithEvents(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	dir := t.TempDir()
	marker := filepath.Join(dir, "fired")
	jsonPath := filepath.Join(dir, "r.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--target", mc.Addr, "--keys", "100", "--duration", "1500ms",
		"--concurrency", "2", "--json", jsonPath,
		"--event", "300ms=touch " + marker, "--event", "600ms=exit 3"}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "--- touch "+marker) {
		t.Errorf("the series table does not mark the event:\n%s", stdout.String())
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the event command did not run: %v", err)
	}
	var rep struct {
		Targets []struct {
			Events []struct {
				T     float64 `json:"t_s"`
				Label string  `json:"label"`
				Error string  `json:"error"`
			} `json:"events"`
		} `json:"targets"`
	}
	data, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	evs := rep.Targets[0].Events
	if len(evs) != 2 {
		t.Fatalf("events %+v", evs)
	}
	for _, e := range evs {
		switch e.Label {
		case "touch " + marker:
			if e.Error != "" || e.T < 0.3 {
				t.Errorf("touch event %+v", e)
			}
		case "exit 3":
			if !strings.Contains(e.Error, "exit status 3") {
				t.Errorf("failing event %+v: want its exit status", e)
			}
		default:
			t.Errorf("unexpected event %+v", e)
		}
	}
	if _, err := parseFlags([]string{"--compare", "h:1,h:2", "--event", "1s=true"}, &stderr); err == nil {
		t.Error("--event with --compare accepted")
	}
}

func TestTopologyEventReplacesANode(t *testing.T) {
	// Zone a's node is replaced by an empty one mid-run: zone a starts to
	// miss and reads fall back to zone b, so the caller still hits.
	a1 := testproc.StartMemcached(t, "-m", "64")
	a2 := testproc.StartMemcached(t, "-m", "64")
	b := testproc.StartMemcachedOn(t, "127.0.0.2", "-m", "64")
	dir := t.TempDir()
	next := filepath.Join(dir, "next.json")
	topo := `{"epoch": 2, "nodes": [{"id": "a2", "zone": "a", "addr": "` + a2.Addr + `"}, {"id": "b1", "zone": "b", "addr": "` + b.Addr + `"}]}`
	if err := os.WriteFile(next, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "r.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--target", "fleet=a@a/" + a1.Addr + "+b/" + b.Addr, "--keys", "2000",
		"--mix", "get=1", "--duration", "2500ms", "--concurrency", "2", "--timeout", "5s", "--json", jsonPath,
		"--event", "1s=topology=" + next}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep struct {
		Targets []struct {
			Errors   uint64  `json:"errors"`
			HitRatio float64 `json:"hit_ratio"`
			Events   []struct {
				Label string `json:"label"`
				Error string `json:"error"`
			} `json:"events"`
			Zones []struct {
				Zone   string `json:"zone"`
				Misses uint64 `json:"misses"`
			} `json:"zones"`
		} `json:"targets"`
	}
	data, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	tr := rep.Targets[0]
	if len(tr.Events) != 1 || tr.Events[0].Error != "" {
		t.Fatalf("events %+v", tr.Events)
	}
	if tr.Errors != 0 || tr.HitRatio != 1 {
		t.Fatalf("errors %d hit ratio %v: fallback to zone b must keep every read a hit", tr.Errors, tr.HitRatio)
	}
	if len(tr.Zones) != 2 || tr.Zones[0].Zone != "a" || tr.Zones[0].Misses == 0 {
		t.Fatalf("zones %+v: the new node in zone a must miss", tr.Zones)
	}
}

func TestTopologyEventNeedsAFleet(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--target", mc.Addr, "--keys", "10", "--duration", "500ms", "--concurrency", "1",
		"--json", jsonPath, "--event", "100ms=topology=/nonexistent.json"}, &stdout, &stderr, false); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, _ := os.ReadFile(jsonPath)
	if !strings.Contains(string(data), "not a fleet") {
		t.Fatalf("the event error is not reported:\n%s", data)
	}
}
