package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestFairBeforeIsTheWorstOfAsManySeconds: the reshard's seconds are
// judged against the worst of the same number of seconds just before it.
func TestFairBeforeIsTheWorstOfAsManySeconds(t *testing.T) {
	ms := time.Millisecond
	before := []time.Duration{9 * ms, 2 * ms, 3 * ms, 2 * ms}
	for _, c := range []struct {
		n     int
		worst time.Duration
		used  int
	}{{2, 3 * ms, 2}, {3, 3 * ms, 3}, {4, 9 * ms, 4}, {40, 9 * ms, 4}} {
		if w, used := fairBefore(before, c.n); w != c.worst || used != c.used {
			t.Errorf("fairBefore(%v, %d) = %v, %d; want %v, %d", before, c.n, w, used, c.worst, c.used)
		}
	}
}

// TestCPUByWindowSplitsBeforeDuringAfter: each window's mean CPU per
// second, the started nodes apart; the first second is left out.
func TestCPUByWindowSplitsBeforeDuringAfter(t *testing.T) {
	fig := reshardFigures{seconds: []reshardSecond{
		{beforeTheReshard: true}, {beforeTheReshard: true}, {duringTheReshard: true}, {duringTheReshard: true}, {afterTheReshard: true},
	}}
	ms := time.Millisecond
	cpu := []secondCPU{{zonebench: 9000 * ms}, {zonebench: 800 * ms, nodes: 600 * ms, other: 100 * ms},
		{zonebench: 700 * ms, nodes: 600 * ms, added: 100 * ms}, {zonebench: 900 * ms, nodes: 800 * ms, added: 300 * ms, other: 200 * ms},
		{zonebench: 850 * ms, nodes: 650 * ms, rt: runtimeSecond{gcCPU: 30 * ms, maxPause: ms, heapLiveMB: 42, goroutines: 7}}}
	var out bytes.Buffer
	writeCPUByWindow(&out, fig, func(k int) (secondCPU, bool) { return cpu[k], true })
	for _, want := range []string{
		"before   1 s: zonebench  800  six nodes  600  started nodes    0  rest  100",
		"during   2 s: zonebench  800  six nodes  700  started nodes  200  rest  100",
		"after    1 s: zonebench  850  six nodes  650  started nodes    0  rest    0;  GC  30  pause 1ms  heap 42 MB  goroutines 7",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in:\n%s", want, out.String())
		}
	}
}

// TestWindowP99IsOneWindowsP99: the reshard's whole seconds against as
// many before, the first second left out; one slow second before moves
// the worst per-second p99 to 200 ms but the window's p99 barely.
func TestWindowP99IsOneWindowsP99(t *testing.T) {
	ms := time.Millisecond
	tr := newReshardTrace()
	tr.mu.Lock()
	for k := range 10 {
		s := tr.second(k)
		lat := ms // seconds 0..9: 1,000 calls of 1 ms
		switch {
		case k == 0:
			lat = 500 * ms // left out
		case k >= 6:
			lat = 2 * ms // the reshard, from 6 s
		}
		for range 1000 {
			s.win.all.record(lat)
		}
		if k == 3 {
			for range 5 { // a slow second before: 5 of its calls
				s.win.all.record(200 * ms)
			}
		}
	}
	tr.mu.Unlock()
	for k := range 8 {
		tr.close(k) // closed and open seconds both count
	}
	var fig reshardFigures
	fig.windowP99s(tr.p99Between, 6*time.Second, 9500*time.Millisecond)
	near := func(got, want time.Duration) bool { return got > want*96/100 && got < want*104/100 }
	if fig.windowSecs != 4 || fig.windowCalls != 4000 || !near(fig.windowP99, 2*ms) {
		t.Errorf("reshard window: %d s, %d calls, p99 %v; want 4 s, 4000 calls, 2ms", fig.windowSecs, fig.windowCalls, fig.windowP99)
	}
	if fig.beforeWindowSecs != 4 || fig.beforeWindowCalls != 4005 || !near(fig.beforeWindowP99, ms) {
		t.Errorf("window before: %d s, %d calls, p99 %v; want seconds 2-5: 4 s, 4005 calls, 1ms", fig.beforeWindowSecs, fig.beforeWindowCalls, fig.beforeWindowP99)
	}
}
