package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/bench"
)

// reshardTrace records, per second of the run, where the demo client's
// time went: the p99 of its calls by operation and of its requests by
// node, and the CPU time of each process of the fleet, of zonebench
// itself and of the rest of the machine. It is the evidence behind the
// p99 target: which second, which operation, which node, whose CPU.
// Recording takes no lock (the workers would queue behind a descheduled
// holder) and a closed second keeps only its p99s, so that the trace
// adds neither waits nor, as the run goes on, heap.
type reshardTrace struct {
	started atomic.Pointer[time.Time] // nil until the measured phase starts
	current atomic.Pointer[traceWindow]

	mu    sync.Mutex
	secs  []*traceSecond
	pids  map[string]int  // process name -> pid
	added map[string]bool // nodes started during the run
}

// traceWindow is the latencies of one second while it is open.
type traceWindow struct {
	k     int
	calls latencies   // by operation
	nodes latencies   // online requests, by node id
	all   latencyHist // every call
}

// traceSecond is one second of the trace.
type traceSecond struct {
	win *traceWindow // nil once closed
	// callP99 and nodeP99 are the window's p99s once the second closed.
	callP99, nodeP99 map[string]time.Duration
	all              *latencyHist // every call of the second, kept (4.7 KB) for windows' p99s
	closed           bool
	cpu              map[string]time.Duration // CPU used in the second, by process
	other            time.Duration            // the machine's busy CPU less the processes'
	// busiest is the busiest other process of the second, and its CPU:
	// what the rest of the machine was doing.
	busiest    string
	busiestCPU time.Duration
	rt         runtimeSecond // zonebench's Go runtime
}

func newReshardTrace() *reshardTrace {
	return &reshardTrace{pids: map[string]int{"zonebench": os.Getpid()}, added: map[string]bool{}}
}

// hooks are the client hooks that feed the trace.
func (t *reshardTrace) hooks() client.Hooks {
	return client.Hooks{
		OnRequest: func(_ context.Context, e client.RequestEvent) {
			if w := t.window(); w != nil {
				w.calls.record(e.Op, e.Duration)
				w.all.record(e.Duration)
			}
		},
		OnAttempt: func(_ context.Context, e client.AttemptEvent) {
			if w := t.window(); w != nil && e.Class == "online" {
				w.nodes.record(e.Node, e.Duration)
			}
		},
	}
}

// window returns the current second's window (nil before the trace
// starts or for a second already closed). Only the first call of a
// second takes the lock.
func (t *reshardTrace) window() *traceWindow {
	start := t.started.Load()
	if start == nil {
		return nil
	}
	k := int(time.Since(*start) / time.Second)
	if w := t.current.Load(); w != nil && w.k == k {
		return w
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.second(k)
	if s.closed {
		return nil
	}
	if w := t.current.Load(); w == nil || w.k < k {
		t.current.Store(s.win)
	}
	return s.win
}

// close keeps second k's p99s and lets its histograms go.
func (t *reshardTrace) close(k int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k < 0 || k >= len(t.secs) || t.secs[k].closed {
		return
	}
	s := t.secs[k]
	s.callP99, s.nodeP99 = s.win.calls.p99s(), s.win.nodes.p99s()
	s.all = new(latencyHist)
	s.all.add(&s.win.all)
	s.win, s.closed = nil, true
}

// p99Between is the p99 of every call in the whole seconds of the trace
// from from to to (since its start), and how many calls that is: one
// window's p99, robust to a single slow second, where the worst of the
// per-second p99s is not.
func (t *reshardTrace) p99Between(from, to time.Duration) (time.Duration, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sum latencyHist
	for k, s := range t.secs {
		if time.Duration(k)*time.Second < from || time.Duration(k+1)*time.Second > to {
			continue
		}
		switch {
		case s.all != nil:
			sum.add(s.all)
		case s.win != nil:
			sum.add(&s.win.all)
		}
	}
	return sum.quantile(0.99), sum.count()
}

// second returns second k, made on first use; t.mu is held.
func (t *reshardTrace) second(k int) *traceSecond {
	for len(t.secs) <= k {
		t.secs = append(t.secs, &traceSecond{win: &traceWindow{k: len(t.secs)}, cpu: map[string]time.Duration{}})
	}
	return t.secs[k]
}

// watch names process pid, a node of the fleet (started during the run
// once the trace runs).
func (t *reshardTrace) watch(name string, pid int) {
	t.mu.Lock()
	t.pids[name] = pid
	if t.started.Load() != nil {
		t.added[name] = true
	}
	t.mu.Unlock()
}

// secondCPU is the CPU one second of the run used, by whom, and what
// zonebench's runtime did in it.
type secondCPU struct {
	zonebench, nodes, added, other time.Duration // added: nodes started during the run
	rt                             runtimeSecond
}

// cpuOf returns second k's CPU, false if it was not sampled.
func (t *reshardTrace) cpuOf(k int) (secondCPU, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k >= len(t.secs) || len(t.secs[k].cpu) == 0 {
		return secondCPU{}, false
	}
	s := t.secs[k]
	c := secondCPU{zonebench: s.cpu["zonebench"], other: s.other, rt: s.rt}
	for name, d := range s.cpu {
		switch {
		case name == "zonebench":
		case t.added[name]:
			c.added += d
		default:
			c.nodes += d
		}
	}
	return c, true
}

// run starts the trace's clock and samples the processes' CPU every
// second until ctx ends.
func (t *reshardTrace) run(ctx context.Context, start time.Time) {
	t.started.Store(&start)
	last, lastBusy, lastAll, rt := map[string]time.Duration{}, machineBusy(), allProcesses(), newRuntimeSampler()
	for k := 0; ; k++ {
		t.sampleInto(k-1, last, &lastBusy)
		t.sampleOthers(k-1, lastAll)
		if sec := rt.next(); k > 0 {
			t.mu.Lock()
			t.second(k - 1).rt = sec
			t.mu.Unlock()
		}
		t.close(k - 2) // a second ago: no call of it still records

		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(time.Duration(k+1) * time.Second))):
		}
	}
}

// sampleInto reads every process's CPU and the machine's, and credits
// second k with what they used since the last sample (k < 0: none).
func (t *reshardTrace) sampleInto(k int, last map[string]time.Duration, lastBusy *time.Duration) {
	t.mu.Lock()
	pids := maps.Clone(t.pids)
	t.mu.Unlock()
	now := map[string]time.Duration{}
	for name, pid := range pids {
		if d, err := bench.ProcessCPU(pid); err == nil {
			now[name] = d
		}
	}
	busy := machineBusy()
	if k >= 0 {
		t.mu.Lock()
		s, ours := t.second(k), time.Duration(0)
		for name, d := range now {
			if was, ok := last[name]; ok {
				s.cpu[name] = d - was
				ours += d - was
			}
		}
		s.other = max(0, busy-*lastBusy-ours)
		t.mu.Unlock()
	}
	clear(last)
	maps.Copy(last, now)
	*lastBusy = busy
}

// procCPU is one process's name and CPU time so far.
type procCPU struct {
	name string
	cpu  time.Duration
}

// allProcesses reads every process's name and CPU time from /proc.
func allProcesses() map[int]procCPU {
	out := map[int]procCPU{}
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cpu, err := bench.ProcessCPU(pid)
		comm, cerr := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && cerr == nil {
			out[pid] = procCPU{name: string(bytes.TrimSpace(comm)), cpu: cpu}
		}
	}
	return out
}

// sampleOthers credits second k (k < 0: none) with the busiest process
// the trace does not watch, from what every process used since last,
// which it then updates.
func (t *reshardTrace) sampleOthers(k int, last map[int]procCPU) {
	now := allProcesses()
	t.mu.Lock()
	defer t.mu.Unlock()
	if k >= 0 {
		ours := map[int]bool{}
		for _, pid := range t.pids {
			ours[pid] = true
		}
		s := t.second(k)
		for pid, p := range now {
			if was, ok := last[pid]; ok && !ours[pid] && p.cpu-was.cpu > s.busiestCPU {
				s.busiest, s.busiestCPU = fmt.Sprintf("%s[%d]", p.name, pid), p.cpu-was.cpu
			}
		}
	}
	clear(last)
	maps.Copy(last, now)
}

// machineBusy is the machine's CPU time not idle, all CPUs, from
// /proc/stat (user + nice + system + irq + softirq + steal).
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := bytes.Fields(line)
	var busy time.Duration
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(string(v), 10, 64)
		busy += time.Duration(n) * 10 * time.Millisecond
		if i == 7 { // steal; guest times are counted in user already
			break
		}
	}
	return busy
}

// write prints the trace, one line per second: p99 of gets and sets, the
// slowest node by its online requests' p99, and the CPU used by
// zonebench, by the fleet's nodes (the busiest named) and by the rest of
// the machine.
func (t *reshardTrace) write(w io.Writer) {
	for k := range t.seconds() {
		t.close(k)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(w, "\nwhere the time went, per second (p99 of the client's calls by operation; the node whose requests'\n"+
		"p99 was highest; CPU ms used in the second by zonebench (workload, checker, copier), by the zonecached\n"+
		"nodes (the busiest named) and by the rest of the machine (other sessions; 2 CPUs = 2000 ms; its busiest\n"+
		"process named)):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tget p99\tset p99\tslowest node p99\tzonebench\tzonecached\tbusiest node\tother\tbusiest other process\t"+
		"GC ms\tGC pause\trunnable p99\theap MB\t")
	for k, s := range t.secs {
		if len(s.cpu) == 0 {
			continue // after the last sample: the run's end
		}
		node, np99 := slowest(s.nodeP99)
		busiest, bcpu, nodes := busiestNode(s.cpu)
		fmt.Fprintf(tw, "%d.0s\t%v\t%v\t%s %v\t%d\t%d\t%s %d\t%d\t%s %d\t%d\t%v\t%v\t%.0f\t\n", k+1, s.callP99["get"], s.callP99["set"],
			node, np99, s.cpu["zonebench"].Milliseconds(), nodes.Milliseconds(), busiest, bcpu.Milliseconds(), s.other.Milliseconds(),
			cmp.Or(s.busiest, "-"), s.busiestCPU.Milliseconds(), s.rt.gcCPU.Milliseconds(), s.rt.maxPause.Round(10*time.Microsecond),
			s.rt.schedP99.Round(10*time.Microsecond), s.rt.heapLiveMB)
	}
	tw.Flush()
}

// slowest returns the name with the highest p99.
func slowest(m map[string]time.Duration) (string, time.Duration) {
	name, worst := "-", time.Duration(0)
	for _, n := range slices.Sorted(maps.Keys(m)) {
		if p := m[n]; p > worst {
			name, worst = n, p
		}
	}
	return name, worst
}

// busiestNode returns the node (not zonebench) that used the most CPU,
// its CPU, and the nodes' total.
func busiestNode(cpu map[string]time.Duration) (string, time.Duration, time.Duration) {
	name, most, total := "-", time.Duration(0), time.Duration(0)
	for _, n := range slices.SortedFunc(maps.Keys(cpu), func(a, b string) int { return cmp.Compare(a, b) }) {
		if n == "zonebench" {
			continue
		}
		total += cpu[n]
		if cpu[n] > most {
			name, most = n, cpu[n]
		}
	}
	return name, most, total
}

// seconds is how many seconds the trace has.
func (t *reshardTrace) seconds() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.secs)
}

// others returns, per second, the CPU the rest of the machine used.
func (t *reshardTrace) others() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Duration, len(t.secs))
	for k, s := range t.secs {
		out[k] = s.other
	}
	return out
}
