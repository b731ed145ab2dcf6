package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/zonecache/zonecache/internal/bench"
)

// progress prints a live one-line status, rewritten in place, when the
// output is a terminal, and nothing otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	shown bool
	ops   map[string]uint64
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, on: tty, ops: map[string]uint64{}}
}

// show replaces the line with the latest second of target name.
func (p *progress) show(name string, pt bench.Point) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ops[name] += pt.Ops
	fmt.Fprintf(p.w, "\r\033[K%s  %.0f ops/s  p99 %s  hit %.1f%%  errors %d  (%d ops)",
		name, pt.Throughput(), bench.FormatDuration(pt.P99Duration()), 100*pt.HitRatio(), pt.Errors, p.ops[name])
	p.shown = true
}

// clear erases the line before the report is printed.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
