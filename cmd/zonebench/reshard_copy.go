package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
)

// copyOptions are the flags of `zonebench reshard-copy`.
type copyOptions struct {
	server      string // zonecached or memcached
	zonecached  string
	memcached   string
	keys        int
	sizes       []int
	rate        float64
	concurrency int
}

func parseCopyFlags(args []string, stderr io.Writer) (copyOptions, error) {
	fs := flag.NewFlagSet("zonebench reshard-copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o copyOptions
	var sizes string
	fs.StringVar(&o.server, "server", "zonecached", "the nodes: zonecached or memcached")
	fs.StringVar(&o.zonecached, "zonecached", defaultZonecached(), "zonecached `binary`")
	fs.StringVar(&o.memcached, "memcached", "memcached", "memcached `binary`")
	fs.IntVar(&o.keys, "keys", 1_000_000, "keys on the source node")
	fs.StringVar(&sizes, "sizes", "100,4096", "value sizes in bytes, comma-separated: one source fill and plan per size")
	fs.Float64Var(&o.rate, "rate", 20_000, "the copy's rate limit in `keys/s` (reshard.CopyConfig.Rate) for the limited run; 0: the unlimited run only")
	fs.IntVar(&o.concurrency, "concurrency", reshard.DefaultConcurrency, "items copied at once (reshard.CopyConfig.Concurrency)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zonebench reshard-copy [flags]\n\n"+
			"Measures package reshard's copy: starts two local nodes (a-1, a-2), fills a-1 with --keys items of each\n"+
			"--sizes value size (pipelined sets), plans a-1's replacement by a-2 (every key moves; the plan is\n"+
			"a-1's lru_crawler metadump) and copies the plan with reshard.Copy, once without a rate limit and once\n"+
			"within --rate (a-2 flushed before each). Prints per run the time, keys/s, value MB/s, the rate against\n"+
			"the limit and the CPU per key of zonebench (the copier) and of each node.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("--sizes: %q is not a size in bytes", s)
		}
		o.sizes = append(o.sizes, n)
	}
	if fs.NArg() > 0 || o.keys < 1 || o.rate < 0 || o.concurrency < 1 || (o.server != "zonecached" && o.server != "memcached") {
		return o, errors.New("want --keys >= 1, --rate >= 0, --concurrency >= 1, --server zonecached|memcached, no arguments")
	}
	return o, nil
}

// runReshardCopy is `zonebench reshard-copy`; it returns the exit code.
func runReshardCopy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseCopyFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "zonebench reshard-copy: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "reshard copy: %d keys per value size, %s a-1 -> a-2 (every key moves), concurrency %d\n\n", o.keys, o.server, o.concurrency)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "value\tkeys\tfill\tplan (metadump)\trate limit\tcopy took\tkeys/s\tvalue MB/s\tof the limit\tCPU µs/key: zonebench\ta-1\ta-2\t")
	for _, size := range o.sizes {
		if err := copySize(ctx, o, size, tw); err != nil {
			tw.Flush()
			fmt.Fprintf(stderr, "zonebench reshard-copy: %d B: %v\n", size, err)
			return 1
		}
	}
	tw.Flush()
	return 0
}

// copyNodes are the two nodes of one size's runs.
type copyNodes struct {
	f        *fleet.Fleet
	src, dst *fleet.Node
	plan     *reshard.Plan
}

// copySize starts the nodes, fills the source with items of size bytes,
// plans and runs the copies, and prints a row per run.
func copySize(ctx context.Context, o copyOptions, size int, w io.Writer) error {
	n, err := startCopyNodes(ctx, o, size)
	if err != nil {
		return err
	}
	defer n.f.Stop()
	began := time.Now()
	if err := fillNode(n.src.Addr, o.keys, size); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	fill := time.Since(began)
	cur := replication.Topology{Epoch: 1, Nodes: []replication.Node{{ID: "a-1", Zone: "a", Addr: n.src.Addr}}}
	tgt := replication.Topology{Epoch: 3, Nodes: []replication.Node{{ID: "a-2", Zone: "a", Addr: n.dst.Addr}}}
	began = time.Now()
	if n.plan, err = reshard.NewPlan(ctx, reshard.Config{Current: cur, Target: tgt}); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	planned := time.Since(began)
	rates := []float64{0}
	if o.rate > 0 {
		rates = append(rates, o.rate)
	}
	for _, rate := range rates {
		r, err := n.copy(ctx, o, rate)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%d B\t%d\t%v\t%v\t%s\t%v\t%.0f\t%.1f\t%s\t%.1f\t%.1f\t%.1f\t\n", size, n.plan.Keys(), fill.Round(10*time.Millisecond),
			planned.Round(10*time.Millisecond), limitOf(rate), r.took.Round(10*time.Millisecond), r.keysPerSec(), r.keysPerSec()*float64(size)/1e6,
			shareOf(r.keysPerSec(), rate), r.perKey(0), r.perKey(1), r.perKey(2))
	}
	return nil
}

func limitOf(rate float64) string {
	if rate == 0 {
		return "none"
	}
	return strconv.FormatFloat(rate, 'f', 0, 64)
}

func shareOf(got, limit float64) string {
	if limit == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*got/limit)
}

// startCopyNodes starts a-1 and a-2 with memory for keys items of size.
func startCopyNodes(ctx context.Context, o copyOptions, size int) (*copyNodes, error) {
	mb := max(64, o.keys*(size+120)/(1<<20)*5/4)
	cfg := fleet.Config{Binary: o.zonecached, Zones: []string{"a"}, NodesPerZone: 2, MemoryMB: mb}
	if o.server == "memcached" {
		cfg.Binary, cfg.Memcached = o.memcached, true
	}
	f, err := fleet.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &copyNodes{f: f, src: f.Nodes()[0], dst: f.Nodes()[1]}, nil
}

// copyRun is one copy's time and the CPU its three processes used.
type copyRun struct {
	keys int64
	took time.Duration
	cpu  [3]time.Duration // zonebench, a-1, a-2
}

func (r copyRun) keysPerSec() float64 { return float64(r.keys) / r.took.Seconds() }

// perKey is process i's CPU per copied key, in µs.
func (r copyRun) perKey(i int) float64 {
	return float64(r.cpu[i].Microseconds()) / float64(max(r.keys, 1))
}

// copy flushes the destination and copies the plan within rate.
func (n *copyNodes) copy(ctx context.Context, o copyOptions, rate float64) (copyRun, error) {
	if err := roundTrip(n.dst.Addr, "flush_all\r\n"); err != nil {
		return copyRun{}, fmt.Errorf("flush a-2: %w", err)
	}
	pids := []int{os.Getpid(), n.src.Pid(), n.dst.Pid()}
	before := cpuOf(pids)
	began := time.Now()
	st, err := reshard.Copy(ctx, n.plan, reshard.CopyConfig{Rate: rate, Concurrency: o.concurrency})
	r := copyRun{keys: st.Copied, took: time.Since(began)}
	after := cpuOf(pids)
	for i := range r.cpu {
		r.cpu[i] = after[i] - before[i]
	}
	// The destination was flushed first, so a key it already held was
	// listed twice by the source's metadump (memcached's crawler can meet
	// an item moving between its LRUs twice): copied once, then present.
	if err == nil && st.Copied+st.Present != n.plan.Keys() {
		err = fmt.Errorf("copied %d of %d keys: %v", st.Copied, n.plan.Keys(), st)
	}
	return r, err
}

func cpuOf(pids []int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		out[i], _ = bench.ProcessCPU(pid)
	}
	return out
}

// fillNode stores n items of size bytes at addr with pipelined noreply
// sets, then waits until a version request after them is answered.
func fillNode(addr string, n, size int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 1<<20)
	val := strings.Repeat("v", size)
	for i := range n {
		fmt.Fprintf(w, "set copy:%d 0 0 %d noreply\r\n%s\r\n", i, size, val)
	}
	w.WriteString("version\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && !strings.HasPrefix(line, "VERSION") {
		err = fmt.Errorf("set: %s", strings.TrimSpace(line)) // a set failed: the first answer is its error
	}
	return err
}

// roundTrip sends cmd to addr and reads one line of answer.
func roundTrip(addr, cmd string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd)); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}
