package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/faultproxy"
	"github.com/zonecache/zonecache/internal/fleet"
)

// demoOptions are the flags of `zonebench demo`.
type demoOptions struct {
	zonecached  string
	duration    time.Duration
	concurrency int
	rate        float64
	keys        int
	keep        bool
	gossip      bool
	svgPath     string
	jsonPath    string
	scenario    string
	outage      time.Duration // tier-down only
	originRate  int           // tier-down only
	copyRate    float64       // reshard only
	control     string        // reshard only: "", controlIdle or controlProcesses
	cpuProf     string        // a CPU profile of zonebench, of the measured run
	tracePath   string        // a runtime execution trace of zonebench, of the measured run
	mutexProf   string        // a mutex contention profile of zonebench, of the measured run
}

func parseDemoFlags(args []string, stderr io.Writer) (demoOptions, error) {
	fs := flag.NewFlagSet("zonebench demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demoOptions
	fs.StringVar(&o.zonecached, "zonecached", defaultZonecached(), "zonecached `binary` to start the fleet with")
	fs.StringVar(&o.scenario, "scenario", scenarioZoneLost, "what happens during the run: "+strings.Join(scenarios, ", ")+" (see above)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long the workload runs")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent client workers")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: target `operations per second`, latency measured from each due time (no coordinated omission); give enough --concurrency to cover a slow node (e.g. --rate 2000 --concurrency 256); 0 = closed loop")
	fs.IntVar(&o.keys, "keys", 10000, "distinct keys (zipfian popularity, skew 0.99)")
	fs.BoolVar(&o.keep, "keep", false, "leave the fleet (less the lost zone) up after the report, until Ctrl-C")
	fs.BoolVar(&o.gossip, "gossip", true, "start the nodes as a gossiping fleet and let the client discover it from seeds")
	fs.StringVar(&o.svgPath, "svg", "", "also write the per-second time series as an SVG chart to `file`")
	fs.StringVar(&o.jsonPath, "json", "", "also write the report as JSON to `file`")
	tierDownFlags(&o, fs)
	fs.Float64Var(&o.copyRate, "copy-rate", reshardCopyRate, "reshard: the copy's rate limit in `keys/s` (reshard.CopyConfig.Rate; 0: none)")
	fs.StringVar(&o.control, "control", "", "reshard: a control run with the same schedule, workload, checker and report but no reshard: `mode` idle (each step only waits) or processes (each step starts or stops, warming, the nodes the reshard would, then waits); its figures are the machine's noise floor")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of zonebench itself (workload, client, checker) during the run to `FILE`")
	fs.StringVar(&o.tracePath, "trace", "", "write a runtime execution trace of zonebench (GC, scheduling) during the run to `FILE`")
	fs.StringVar(&o.mutexProf, "mutexprofile", "", "write a mutex contention profile of zonebench (who waited for a lock on the measured path) to `FILE`")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zonebench demo [flags]\n\n"+
			"Starts a local fleet of real zonecached processes (3 zones x 2 nodes on free 127.0.0.1 ports),\n"+
			"runs a mixed workload (90%% get, 10%% set) through the smart client from zone a with a live progress\n"+
			"line, injects the --scenario's fault, and prints throughput, latency percentiles, hit ratio, fallbacks\n"+
			"and the errors callers saw (expected: zero), with the per-second series around the events. Then it\n"+
			"stops the fleet, also on Ctrl-C. It exits 1 when callers saw errors, and its last line says so.\n\n"+
			"Scenarios:\n"+
			"  zone-lost      both nodes of zone a are killed halfway; reads fall back to zones b and c\n"+
			"  node-replaced  at 1/3 node a-1 is killed, a replacement a-3 starts in state warming, appears in\n"+
			"                 the client's topology (discovery) and is warmed from zone b; once the fleet has\n"+
			"                 declared a-1 dead (a few seconds) a-3 is promoted to serving; zone a's fallbacks\n"+
			"                 rise, then drop back near zero (needs --gossip)\n"+
			"  slow-node      a TCP proxy sits in front of a-1 (static topology); at 1/2 it delays each response\n"+
			"                 by 50 ms (below the 500 ms timeout: p99 rises), at 3/4 by 2 s (beyond it: the\n"+
			"                 breaker opens and reads fall back)\n"+reshardUsage+"\n"+tierDownUsage+"\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if !slices.Contains(scenarios, o.scenario) {
		return o, fmt.Errorf("--scenario %q: want one of %s", o.scenario, strings.Join(scenarios, ", "))
	}
	if o.scenario == scenarioNodeReplaced && !o.gossip {
		return o, errors.New("--scenario node-replaced needs --gossip")
	}
	if err := reshardOptions(&o, fs); err != nil {
		return o, err
	}
	if err := tierDownOptions(&o, fs); err != nil {
		return o, err
	}
	if o.scenario == scenarioSlowNode {
		o.gossip = false // the client gets a static topology with the proxy's address
	}
	if o.duration < 2*time.Second || o.concurrency < 1 || o.keys < 1 || o.rate < 0 {
		return o, errors.New("need --duration >= 2s, --concurrency >= 1, --keys >= 1, --rate >= 0")
	}
	return o, nil
}

// defaultZonecached is zonecached next to this executable, else on PATH.
func defaultZonecached() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "zonecached")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "zonecached"
}

// runDemo is `zonebench demo`; it returns the exit code.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	o, err := parseDemoFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "zonebench demo: %v\n", err)
		return 2
	}
	if o.scenario == scenarioTierDown {
		return runTierDown(ctx, o, stdout, stderr)
	}
	// The verdict is the last line, printed once the fleet has stopped.
	var verdict string
	defer func() {
		if verdict != "" {
			fmt.Fprintln(stdout, verdict)
		}
	}()
	d := &demo{o: o, stdout: stdout}
	defer d.close()
	if err := d.start(ctx); err != nil {
		fmt.Fprintf(stderr, "zonebench demo: %v\n", err)
		return 1
	}
	stopProfiles, err := startProfiles(o.cpuProf, o.tracePath, o.mutexProf)
	if err != nil {
		fmt.Fprintf(stderr, "zonebench demo: %v\n", err)
		return 1
	}
	res, err := d.run(ctx, tty)
	stopProfiles()
	if res == nil {
		fmt.Fprintf(stderr, "zonebench demo: %v\n", err)
		verdict = fmt.Sprintf("FAIL: the workload did not run (%v)", err)
		return 1
	}
	d.report(res, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "zonebench demo: %v\n", err)
	}
	code, verdict := demoVerdict(res, err)
	if o.keep && ctx.Err() == nil {
		d.keepUp(ctx, verdict)
	}
	fmt.Fprintln(stdout, "stopping the fleet")
	return code
}

// demo is one run of `zonebench demo`: the fleet, the client measuring it
// and the scenario's events.
type demo struct {
	o      demoOptions
	stdout io.Writer
	quiet  *slog.Logger

	f      *fleet.Fleet
	proxy  *faultproxy.Proxy  // slow-node only
	target *bench.FleetTarget // the smart client in zone a
	watch  *watcher
	repl   *nodeReplacement // node-replaced only
	shape  *reshardDemo     // reshard only
	trace  *reshardTrace    // reshard only
	events []bench.Event
	title  string
	bcfg   bench.Config
	closes []func() // undo start, last first
}

// start brings up the fleet, the client and the scenario's events.
func (d *demo) start(ctx context.Context) error {
	d.quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := d.startFleet(ctx); err != nil {
		return err
	}
	cfg, err := d.clientConfig(ctx)
	if err != nil {
		return err
	}
	if d.o.scenario == scenarioReshard {
		d.trace = newReshardTrace()
		cfg.Hooks = d.trace.hooks()
	}
	if d.target, err = bench.NewFleetTarget(cfg); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	d.closes = append(d.closes, func() { d.target.Close() })
	d.watch = &watcher{ctx: ctx, c: d.target.Client(), logger: d.quiet}
	d.closes = append(d.closes, d.watch.stop)
	if d.o.gossip {
		d.watch.start(d.f.AdminAddrs())
	}
	d.scenario()
	return nil
}

// close stops what start started, in reverse order.
func (d *demo) close() {
	for i := len(d.closes) - 1; i >= 0; i-- {
		d.closes[i]()
	}
}

// startFleet starts 3 zones x 2 zonecached nodes and lists them.
func (d *demo) startFleet(ctx context.Context) error {
	fmt.Fprintf(d.stdout, "starting a local fleet: 3 zones x 2 zonecached nodes ...\n")
	f, err := fleet.Start(ctx, fleet.Config{Binary: d.o.zonecached, Gossip: d.o.gossip, DrainTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	d.f = f
	d.closes = append(d.closes, f.Stop)
	for _, n := range f.Nodes() {
		fmt.Fprintf(d.stdout, "  %-4s zone %s  cache %s  admin http://%s\n", n.ID, n.Zone, n.Addr, n.AdminAddr)
	}
	fmt.Fprintf(d.stdout, "  admin token (zonecache --admin-token-file): %s\n", f.AdminTokenFile())
	return nil
}

// clientConfig is the zone-a client's config: the topology discovered from
// the fleet (or the fleet's own with --gossip=false), a-1 behind a fault
// proxy for slow-node.
func (d *demo) clientConfig(ctx context.Context) (client.Config, error) {
	cfg := client.Config{Zone: "a", Logger: d.quiet, Topology: d.f.Topology()}
	if d.o.gossip {
		dcfg := discovery.Config{Seeds: d.f.AdminAddrs(), Logger: d.quiet}
		top, err := fleet.WaitTopology(ctx, dcfg, len(d.f.Nodes()), 20*time.Second)
		if err != nil {
			return cfg, fmt.Errorf("discover the fleet: %w", err)
		}
		cfg.Topology = top
	}
	if d.o.scenario != scenarioSlowNode {
		return cfg, nil
	}
	slow := d.f.Zone("a")[0]
	proxy, err := faultproxy.New(slow.Addr)
	if err != nil {
		return cfg, fmt.Errorf("proxy: %w", err)
	}
	d.proxy = proxy
	d.closes = append(d.closes, func() { proxy.Close() })
	cfg.Topology = proxiedTopology(cfg.Topology, slow.ID, proxy.Addr())
	fmt.Fprintf(d.stdout, "  the client reaches %s through a fault proxy at %s\n", slow.ID, proxy.Addr())
	return cfg, nil
}

// scenario sets the events and the chart's title of --scenario.
func (d *demo) scenario() {
	dur := d.o.duration
	switch d.o.scenario {
	case scenarioZoneLost:
		fmt.Fprintf(d.stdout, "client in zone a; workload for %v, zone a is lost at %v\n\n", dur, dur/2)
		d.title = "zonecache demo: zone a lost halfway"
		d.events = []bench.Event{{At: dur / 2, Label: "zone a lost (both nodes killed)", Do: func(context.Context) error {
			d.f.KillZone("a")
			return nil
		}}}
	case scenarioNodeReplaced:
		fmt.Fprintf(d.stdout, "client in zone a; workload for %v, node a-1 is killed and replaced by a-3 at %v\n\n", dur, dur/3)
		d.title = "zonecache demo: node a-1 replaced by a-3, warmed from zone b"
		d.repl = newNodeReplacement(d.f, d.target.Client(), d.watch)
		d.events = []bench.Event{d.repl.event(dur / 3)}
	case scenarioSlowNode:
		fmt.Fprintf(d.stdout, "client in zone a; workload for %v, a-1 slow (+%v) at %v, hung (+%v) at %v\n\n",
			dur, slowDelay, dur/2, hungDelay, dur*3/4)
		d.title = "zonecache demo: node a-1 slow, then hung"
		d.events = slowNodeEvents(d.proxy, "a-1", dur)
	case scenarioReshard:
		d.reshardScenario()
	}
}

// run runs the workload with the scenario's events and a progress line.
func (d *demo) run(ctx context.Context, tty bool) (*bench.Result, error) {
	d.bcfg = bench.Config{
		Workload:    bench.Workload{Keys: d.o.keys, Dist: bench.Zipfian, Skew: 0.99, Mix: bench.Mix{Get: 90, Set: 10}},
		Concurrency: d.o.concurrency,
		Rate:        d.o.rate,
		Duration:    d.o.duration,
		Prefill:     true,
		Events:      d.events,
	}
	prog := newProgress(d.stdout, tty)
	d.bcfg.Progress = func(p bench.Point) { prog.show("fleet", p) }
	res, err := bench.Run(ctx, d.bcfg, "zonecache fleet (3 zones, client in zone a)", d.target)
	prog.clear()
	return res, err
}

// report prints the table, the per-zone series and the scenario's figures,
// and writes the JSON and SVG files asked for.
func (d *demo) report(res *bench.Result, stderr io.Writer) {
	if d.repl != nil {
		d.repl.steps.addTo(res)
	}
	rep := bench.NewReport(d.bcfg, res)
	rep.ShowSeries = true
	if werr := rep.WriteTable(d.stdout); werr != nil {
		fmt.Fprintf(stderr, "zonebench demo: %v\n", werr)
	}
	writeZoneSeries(d.stdout, res)
	if d.o.jsonPath != "" {
		_ = writeFile(d.o.jsonPath, rep.WriteJSON)
	}
	if d.o.svgPath != "" {
		_ = writeFile(d.o.svgPath, func(w io.Writer) error { return bench.WriteSVG(w, d.title, res) })
		fmt.Fprintf(d.stdout, "chart written to %s\n", d.o.svgPath)
	}
	if d.repl != nil {
		fmt.Fprintf(d.stdout, "warmed a-3: copied %d (%v)\n", d.repl.warmed.Copied, d.repl.warmed)
	}
	if d.proxy != nil {
		fmt.Fprintf(d.stdout, "fault proxy: %d responses of a-1 delayed\n", d.proxy.DelayedChunks())
	}
	d.reportReshard(res)
}

// keepUp prints the verdict and a few commands to try, and keeps the fleet
// up until ctx ends (--keep).
func (d *demo) keepUp(ctx context.Context, verdict string) {
	fmt.Fprintf(d.stdout, "\n%s\nthe fleet stays up; Ctrl-C stops it. Try:\n", verdict)
	n := d.f.Nodes()[2]
	host, port, _ := net.SplitHostPort(n.Addr)
	fmt.Fprintf(d.stdout, "  printf 'set k 0 0 2\\r\\nhi\\r\\nget k\\r\\n' | nc -q1 %s %s\n", host, port)
	fmt.Fprintf(d.stdout, "  curl http://%s/topology\n  curl http://%s/metrics\n", n.AdminAddr, n.AdminAddr)
	<-ctx.Done()
}

// demoVerdict returns the demo's exit code and its last line: callers must
// see no errors (the fleet hides every fault the scenarios inject), and the
// run must not have been cut short.
func demoVerdict(res *bench.Result, err error) (int, string) {
	switch {
	case res.Errors > 0:
		return 1, fmt.Sprintf("FAIL: callers saw %d errors in %d operations (expected 0)", res.Errors, res.Ops)
	case err != nil:
		return 1, fmt.Sprintf("INTERRUPTED: the run stopped early (%v); callers saw 0 errors in %d operations until then", err, res.Ops)
	default:
		return 0, fmt.Sprintf("OK: callers saw 0 errors in %d operations", res.Ops)
	}
}
