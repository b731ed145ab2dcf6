package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zonecache/zonecache/internal/bench"
)

// options is everything the flags say.
type options struct {
	targets  []targetSpec // one, or two with --compare
	names    []string     // labels, one per target
	compare  bool
	cfg      bench.Config
	slice    time.Duration
	warmup   time.Duration
	timeout  time.Duration
	jsonPath string
	svgPath  string
	title    string
	events   []bench.Event
	env      *eventEnv // lets events reach the opened target
	series   bool
	pids     [][]int // per target: server processes whose CPU time to report
	cpuProf  string
}

// errUsage marks errors the user must fix in the command line.
var errUsage = errors.New("usage")

// parseFlags reads args (without the program name). Usage and errors go to
// stderr; -h returns flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("zonebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		target    = fs.String("target", "", "the cache to measure, `kind=host:port` (a bare host:port means memcached=host:port); see kinds below")
		compare   = fs.String("compare", "", "measure two targets `A,B` alternately in one run (slices A B, B A, …) and print B/A ratios; each is a --target spec")
		names     = fs.String("names", "", "labels for the target(s) in reports, comma-separated (default: the specs)")
		keys      = fs.Int("keys", bench.DefaultKeys, "number of distinct keys")
		keySize   = fs.Int("key-size", bench.DefaultKeySize, "key length in bytes (at least 1 + digits of keys-1, at most 250)")
		valueSize = fs.String("value-size", "100", "value size in bytes: fixed `N` or uniform range MIN-MAX (max 1048576)")
		dist      = fs.String("dist", "uniform", "key popularity: uniform or zipf")
		skew      = fs.Float64("skew", bench.DefaultSkew, "zipf skew θ > 0 (YCSB uses 0.99); with --dist zipf")
		mix       = fs.String("mix", "get=90,set=10", "operation weights: get, set, delete, mget, e.g. get=80,mget=10,set=10")
		batch     = fs.Int("batch", bench.DefaultBatch, "keys per multi-get (mget), distinct")
		ttl       = fs.Duration("ttl", 0, "expiration of written items; 0 = never")
		duration  = fs.Duration("duration", bench.DefaultDuration, "length of the measured phase (per target with --compare); ignored when --ops > 0")
		ops       = fs.Int64("ops", 0, "stop after this many operations (per target with --compare) instead of --duration")
		conc      = fs.Int("concurrency", 50, "workers, each with one request in flight (also the client's idle connection pool)")
		rate      = fs.Float64("rate", 0, "open loop: target operations per second on a fixed timetable, latency measured from each due time; 0 = closed loop")
		prefill   = fs.Bool("prefill", true, "write every key once before measuring (not measured)")
		seed      = fs.Uint64("seed", 1, "random seed; equal seeds give equal key sequences")
		slice     = fs.Duration("slice", bench.DefaultSlice, "length of one --compare slice")
		warmup    = fs.Duration("warmup", 0, "unmeasured run of each target before measuring (after the prefill)")
		timeout   = fs.Duration("timeout", bench.DefaultOpTimeout, "per-operation timeout of the target's client")
		jsonPath  = fs.String("json", "", "also write the report as JSON to `FILE` (- = stdout, instead of the table)")
		svgPath   = fs.String("svg", "", "write a chart of the per-second series (throughput, errors, hit ratio, p99) to `FILE`")
		title     = fs.String("title", "", "title of the SVG chart (default: the workload)")
		pids      = fs.String("pids", "", "server process ids, one per target (comma-separated, `PID[+PID…],PID`), to report server CPU time per operation; local Linux processes only")
		cpuProf   = fs.String("cpuprofile", "", "write a CPU profile of zonebench itself (harness and client library) to `FILE`")
		series    = fs.Bool("series", false, "print the per-second series (throughput, errors, hit ratio, latency) in the table; always on with --event")
	)
	var events eventFlags
	fs.Var(&events, "event", "at offset AT into the measured phase run a shell `AT=COMMAND` (or, with a fleet target, AT=topology=FILE.json: switch the client to that topology) and mark it on the series and chart, e.g. --event \"10s=kill -STOP 1234\"; repeatable; not with --compare")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: zonebench --target SPEC [flags]\n       zonebench --compare SPEC_A,SPEC_B [flags]\n       zonebench demo [--keep] [flags]   (a local 3-zone fleet under load; zonebench demo -h)\n       zonebench consistency [flags]     (stale reads, lost writes and errors under faults; zonebench consistency -h)\n\n")
		fmt.Fprintf(out, "Measures a cache's throughput, latency percentiles (p50 p90 p99 p99.9 max), hit ratio and errors.\n")
		fmt.Fprintf(out, "A progress line is shown only when stdout is a terminal.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(out, "\nTarget kinds:\n")
		for _, k := range targetKinds() {
			fmt.Fprintf(out, "  %s=%s\n      %s\n", k.name, k.usage, k.help)
		}
		fmt.Fprintf(out, "\nExample:\n  zonebench --compare memcached=127.0.0.1:11211,memcached=127.0.0.1:11311 --names memcached,zonecached \\\n      --mix get=90,set=10 --value-size 100 --concurrency 50 --duration 20s\n")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	o := &options{slice: *slice, warmup: *warmup, timeout: *timeout, jsonPath: *jsonPath, svgPath: *svgPath, title: *title, events: events.list, env: events.env, series: *series, cpuProf: *cpuProf}
	switch {
	case *target != "" && *compare != "":
		return nil, fmt.Errorf("give --target or --compare, not both: %w", errUsage)
	case *target != "":
		s, err := parseTargetSpec(*target)
		if err != nil {
			return nil, fmt.Errorf("--target: %w", err)
		}
		o.targets = []targetSpec{s}
	case *compare != "":
		parts := strings.Split(*compare, ",")
		if len(parts) != 2 {
			return nil, fmt.Errorf("--compare takes two targets A,B: %w", errUsage)
		}
		for _, p := range parts {
			s, err := parseTargetSpec(p)
			if err != nil {
				return nil, fmt.Errorf("--compare: %w", err)
			}
			o.targets = append(o.targets, s)
		}
		o.compare = true
		if len(events.list) > 0 {
			return nil, fmt.Errorf("--event cannot be used with --compare: %w", errUsage)
		}
	default:
		return nil, fmt.Errorf("--target or --compare is required: %w", errUsage)
	}
	var err error
	if *names != "" {
		o.names = strings.Split(*names, ",")
		if len(o.names) != len(o.targets) {
			return nil, fmt.Errorf("--names has %d labels for %d targets: %w", len(o.names), len(o.targets), errUsage)
		}
	} else {
		for _, t := range o.targets {
			o.names = append(o.names, t.String())
		}
	}

	if *pids != "" {
		o.pids, err = parsePids(*pids, len(o.targets))
		if err != nil {
			return nil, err
		}
	}
	vs, err := bench.ParseSizeRange(*valueSize)
	if err != nil {
		return nil, fmt.Errorf("--value-size: %w", err)
	}
	m, err := bench.ParseMix(*mix)
	if err != nil {
		return nil, fmt.Errorf("--mix: %w", err)
	}
	var d bench.Dist
	switch *dist {
	case "uniform":
		d = bench.Uniform
	case "zipf", "zipfian":
		d = bench.Zipfian
	default:
		return nil, fmt.Errorf("--dist %q: want uniform or zipf: %w", *dist, errUsage)
	}
	if *keys < 1 || *keySize < 1 || *batch < 1 || *conc < 1 || *ops < 0 || *rate < 0 || *duration <= 0 || *skew <= 0 || *seed == 0 {
		return nil, fmt.Errorf("--keys, --key-size, --batch, --concurrency, --duration, --skew and --seed must be > 0, --ops and --rate ≥ 0: %w", errUsage)
	}
	if *timeout <= 0 || *slice <= 0 || *warmup < 0 {
		return nil, fmt.Errorf("--timeout and --slice must be > 0, --warmup ≥ 0: %w", errUsage)
	}
	o.cfg = bench.Config{
		Workload: bench.Workload{
			Keys: *keys, KeySize: *keySize, Dist: d, Skew: *skew, Mix: m, Batch: *batch,
			ValueSize: vs, TTL: *ttl, Seed: *seed,
		},
		Concurrency: *conc,
		Rate:        *rate,
		Duration:    *duration,
		Ops:         *ops,
		Prefill:     *prefill,
		Events:      events.list,
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// parsePids reads --pids: one group per target, groups separated by commas,
// processes within a group by '+'.
func parsePids(s string, targets int) ([][]int, error) {
	groups := strings.Split(s, ",")
	if len(groups) != targets {
		return nil, fmt.Errorf("--pids has %d groups for %d targets: %w", len(groups), targets, errUsage)
	}
	out := make([][]int, len(groups))
	for i, g := range groups {
		for p := range strings.SplitSeq(g, "+") {
			pid, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || pid < 1 {
				return nil, fmt.Errorf("--pids: %q is not a process id: %w", p, errUsage)
			}
			out[i] = append(out[i], pid)
		}
	}
	return out, nil
}
