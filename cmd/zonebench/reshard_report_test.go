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
