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
type reshardTrace struct {
	mu    sync.Mutex
	start time.Time // zero until the measured phase starts
	secs  []*traceSecond
	pids  map[string]int // process name -> pid
}

// traceSecond is one second of the trace.
type traceSecond struct {
	calls map[string]*bench.Histogram // by operation
	nodes map[string]*bench.Histogram // online requests, by node id
	cpu   map[string]time.Duration    // CPU used in the second, by process
	other time.Duration               // the machine's busy CPU less the processes'
	// busiest is the busiest other process of the second, and its CPU:
	// what the rest of the machine was doing.
	busiest    string
	busiestCPU time.Duration
}

func newReshardTrace() *reshardTrace {
	return &reshardTrace{pids: map[string]int{"zonebench": os.Getpid()}}
}

// hooks are the client hooks that feed the trace.
func (t *reshardTrace) hooks() client.Hooks {
	return client.Hooks{
		OnRequest: func(_ context.Context, e client.RequestEvent) {
			t.record(func(s *traceSecond) map[string]*bench.Histogram { return s.calls }, e.Op, e.Duration)
		},
		OnAttempt: func(_ context.Context, e client.AttemptEvent) {
			if e.Class == "online" {
				t.record(func(s *traceSecond) map[string]*bench.Histogram { return s.nodes }, e.Node, e.Duration)
			}
		},
	}
}

// record adds d, ended now, to the histogram name of which's map of the
// current second.
func (t *reshardTrace) record(which func(*traceSecond) map[string]*bench.Histogram, name string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.start.IsZero() {
		return
	}
	m := which(t.second(int(time.Since(t.start) / time.Second)))
	h := m[name]
	if h == nil {
		h = bench.NewHistogram()
		m[name] = h
	}
	h.RecordDuration(d)
}

// second returns second k, made on first use; t.mu is held.
func (t *reshardTrace) second(k int) *traceSecond {
	for len(t.secs) <= k {
		t.secs = append(t.secs, &traceSecond{calls: map[string]*bench.Histogram{}, nodes: map[string]*bench.Histogram{},
			cpu: map[string]time.Duration{}})
	}
	return t.secs[k]
}

// watch names process pid (a node started during the run).
func (t *reshardTrace) watch(name string, pid int) {
	t.mu.Lock()
	t.pids[name] = pid
	t.mu.Unlock()
}

// run starts the trace's clock and samples the processes' CPU every
// second until ctx ends.
func (t *reshardTrace) run(ctx context.Context, start time.Time) {
	t.mu.Lock()
	t.start = start
	t.mu.Unlock()
	last, lastBusy, lastAll := map[string]time.Duration{}, machineBusy(), allProcesses()
	for k := 0; ; k++ {
		t.sampleInto(k-1, last, &lastBusy)
		t.sampleOthers(k-1, lastAll)
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
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(w, "\nwhere the time went, per second (p99 of the client's calls by operation; the node whose requests'\n"+
		"p99 was highest; CPU ms used in the second by zonebench (workload, checker, copier), by the zonecached\n"+
		"nodes (the busiest named) and by the rest of the machine (other sessions; 2 CPUs = 2000 ms; its busiest\n"+
		"process named)):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tget p99\tset p99\tslowest node p99\tzonebench\tzonecached\tbusiest node\tother\tbusiest other process\t")
	for k, s := range t.secs {
		if len(s.cpu) == 0 {
			continue // after the last sample: the run's end
		}
		node, np99 := slowest(s.nodes)
		busiest, bcpu, nodes := busiestNode(s.cpu)
		fmt.Fprintf(tw, "%d.0s\t%v\t%v\t%s %v\t%d\t%d\t%s %d\t%d\t%s %d\t\n", k+1, p99Of(s.calls["get"]), p99Of(s.calls["set"]),
			node, np99, s.cpu["zonebench"].Milliseconds(), nodes.Milliseconds(), busiest, bcpu.Milliseconds(), s.other.Milliseconds(),
			cmp.Or(s.busiest, "-"), s.busiestCPU.Milliseconds())
	}
	tw.Flush()
}

func p99Of(h *bench.Histogram) time.Duration {
	if h == nil || h.Count() == 0 {
		return 0
	}
	return time.Duration(h.Percentile(0.99)).Round(10 * time.Microsecond)
}

// slowest returns the name whose histogram has the highest p99.
func slowest(m map[string]*bench.Histogram) (string, time.Duration) {
	name, worst := "-", time.Duration(0)
	for _, n := range slices.Sorted(maps.Keys(m)) {
		if p := p99Of(m[n]); p > worst {
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
