package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zonecache/zonecache/internal/authfile"
	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/tlsflag"
	"github.com/zonecache/zonecache/nodeclient"
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
	auth     *nodeclient.Credentials // nil: none
	jsonPath string
	svgPath  string
	title    string
	events   []bench.Event
	env      *eventEnv // lets events reach the opened target
	series   bool
	pids     [][]int // per target: server processes whose CPU time to report
	cpuProf  string
	tls      *tls.Config // the targets' cache connections; nil: plain TCP
}

// errUsage marks errors the user must fix in the command line.
var errUsage = errors.New("usage")

// parseFlags reads args (without the program name). Usage and errors go to
// stderr; -h returns flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("zonebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f benchFlags
	f.register(fs)
	fs.Usage = func() { benchUsage(fs) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	return f.options()
}

// benchFlags are the flags of a measurement, grouped by concern.
type benchFlags struct {
	targets  targetFlags
	workload workloadFlags
	run      runFlags
	out      outputFlags
	events   eventFlags
}

// targetFlags say what is measured.
type targetFlags struct {
	target, compare, names, pids, authFile string
	tls                                    tlsflag.Client
}

// workloadFlags say which keys, values and operations are sent.
type workloadFlags struct {
	keys, keySize, batch int
	valueSize, dist, mix string
	skew                 float64
	ttl                  time.Duration
	seed                 uint64
}

// runFlags say how long and how hard the run drives the target.
type runFlags struct {
	duration, slice, warmup, timeout time.Duration
	ops                              int64
	conc                             int
	rate                             float64
	prefill                          bool
}

// outputFlags say where the report goes.
type outputFlags struct {
	jsonPath, svgPath, title, cpuProf string
	series                            bool
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	f.targets.register(fs)
	f.workload.register(fs)
	f.run.register(fs)
	f.out.register(fs)
	fs.Var(&f.events, "event", "at offset AT into the measured phase run a shell `AT=COMMAND` (or, with a fleet target, AT=topology=FILE.json: switch the client to that topology) and mark it on the series and chart, e.g. --event \"10s=kill -STOP 1234\"; repeatable; not with --compare")
}

func (t *targetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.target, "target", "", "the cache to measure, `kind=host:port` (a bare host:port means memcached=host:port); see kinds below")
	fs.StringVar(&t.compare, "compare", "", "measure two targets `A,B` alternately in one run (slices A B, B A, …) and print B/A ratios; each is a --target spec")
	fs.StringVar(&t.names, "names", "", "labels for the target(s) in reports, comma-separated (default: the specs)")
	t.tls.Register(fs)
	fs.StringVar(&t.authFile, "auth-file", "", "credentials for nodes that require authentication (zonecached --auth-file, memcached -Y): a `file` with one username:password line, not readable by group or others; node and fleet targets only")
	fs.StringVar(&t.pids, "pids", "", "server process ids, one per target (comma-separated, `PID[+PID…],PID`), to report server CPU time per operation; local Linux processes only")
}

func (w *workloadFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&w.keys, "keys", bench.DefaultKeys, "number of distinct keys")
	fs.IntVar(&w.keySize, "key-size", bench.DefaultKeySize, "key length in bytes (at least 1 + digits of keys-1, at most 250)")
	fs.StringVar(&w.valueSize, "value-size", "100", "value size in bytes: fixed `N` or uniform range MIN-MAX (max 1048576)")
	fs.StringVar(&w.dist, "dist", "uniform", "key popularity: uniform or zipf")
	fs.Float64Var(&w.skew, "skew", bench.DefaultSkew, "zipf skew θ > 0 (YCSB uses 0.99); with --dist zipf")
	fs.StringVar(&w.mix, "mix", "get=90,set=10", "operation weights: get, set, delete, mget, e.g. get=80,mget=10,set=10")
	fs.IntVar(&w.batch, "batch", bench.DefaultBatch, "keys per multi-get (mget), distinct")
	fs.DurationVar(&w.ttl, "ttl", 0, "expiration of written items; 0 = never")
	fs.Uint64Var(&w.seed, "seed", 1, "random seed; equal seeds give equal key sequences")
}

func (r *runFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&r.duration, "duration", bench.DefaultDuration, "length of the measured phase (per target with --compare); ignored when --ops > 0")
	fs.Int64Var(&r.ops, "ops", 0, "stop after this many operations (per target with --compare) instead of --duration")
	fs.IntVar(&r.conc, "concurrency", 50, "workers, each with one request in flight (also the client's idle connection pool)")
	fs.Float64Var(&r.rate, "rate", 0, "open loop: target operations per second on a fixed timetable, latency measured from each due time; 0 = closed loop")
	fs.BoolVar(&r.prefill, "prefill", true, "write every key once before measuring (not measured)")
	fs.DurationVar(&r.slice, "slice", bench.DefaultSlice, "length of one --compare slice")
	fs.DurationVar(&r.warmup, "warmup", 0, "unmeasured run of each target before measuring (after the prefill)")
	fs.DurationVar(&r.timeout, "timeout", bench.DefaultOpTimeout, "per-operation timeout of the target's client")
}

func (o *outputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.jsonPath, "json", "", "also write the report as JSON to `FILE` (- = stdout, instead of the table)")
	fs.StringVar(&o.svgPath, "svg", "", "write a chart of the per-second series (throughput, errors, hit ratio, p99) to `FILE`")
	fs.StringVar(&o.title, "title", "", "title of the SVG chart (default: the workload)")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of zonebench itself (harness and client library) to `FILE`")
	fs.BoolVar(&o.series, "series", false, "print the per-second series (throughput, errors, hit ratio, latency) in the table; always on with --event")
}

// benchUsage prints zonebench's usage: synopsis, flags, target kinds and
// an example.
func benchUsage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage: zonebench --target SPEC [flags]\n       zonebench --compare SPEC_A,SPEC_B [flags]\n       zonebench demo [--keep] [flags]   (a local 3-zone fleet under load: a zone lost, a node replaced, a slow node, a reshard; zonebench demo -h)\n       zonebench consistency [flags]     (stale reads, lost writes and errors under faults; zonebench consistency -h)\n       zonebench reshard-copy [flags]    (package reshard's copy rate, 1,000,000 keys; zonebench reshard-copy -h)\n       zonebench --version\n\n")
	fmt.Fprintf(out, "Measures a cache's throughput, latency percentiles (p50 p90 p99 p99.9 max), hit ratio and errors.\n")
	fmt.Fprintf(out, "A progress line is shown only when stdout is a terminal.\n\nFlags:\n")
	fs.PrintDefaults()
	fmt.Fprintf(out, "\nTarget kinds:\n")
	for _, k := range targetKinds() {
		fmt.Fprintf(out, "  %s=%s\n      %s\n", k.name, k.usage, k.help)
	}
	fmt.Fprintf(out, "\nExample:\n  zonebench --compare memcached=127.0.0.1:11211,memcached=127.0.0.1:11311 --names memcached,zonecached \\\n      --mix get=90,set=10 --value-size 100 --concurrency 50 --duration 20s\n")
}

// options checks the flags and turns them into the run's options.
func (f *benchFlags) options() (*options, error) {
	o := &options{slice: f.run.slice, warmup: f.run.warmup, timeout: f.run.timeout,
		jsonPath: f.out.jsonPath, svgPath: f.out.svgPath, title: f.out.title,
		events: f.events.list, env: f.events.env, series: f.out.series, cpuProf: f.out.cpuProf}
	var err error
	if o.targets, o.compare, err = f.targets.specs(len(f.events.list) > 0); err != nil {
		return nil, err
	}
	if o.names, err = f.targets.labels(o.targets); err != nil {
		return nil, err
	}
	if o.tls, err = f.targets.tls.Config(); err != nil {
		return nil, fmt.Errorf("%w: %w", err, errUsage)
	}
	if f.targets.pids != "" {
		if o.pids, err = parsePids(f.targets.pids, len(o.targets)); err != nil {
			return nil, err
		}
	}
	if o.auth, err = authfile.Credentials(f.targets.authFile); err != nil {
		return nil, err
	}
	wl, err := f.workload.parse()
	if err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	r := f.run
	o.cfg = bench.Config{Workload: wl, Concurrency: r.conc, Rate: r.rate, Duration: r.duration,
		Ops: r.ops, Prefill: r.prefill, Events: f.events.list}
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// specs parses --target or --compare; events says --event was given (not
// allowed with --compare).
func (t targetFlags) specs(events bool) (specs []targetSpec, compare bool, err error) {
	switch {
	case t.target != "" && t.compare != "":
		return nil, false, fmt.Errorf("give --target or --compare, not both: %w", errUsage)
	case t.target != "":
		s, err := parseTargetSpec(t.target)
		if err != nil {
			return nil, false, fmt.Errorf("--target: %w", err)
		}
		return []targetSpec{s}, false, nil
	case t.compare != "":
		parts := strings.Split(t.compare, ",")
		if len(parts) != 2 {
			return nil, false, fmt.Errorf("--compare takes two targets A,B: %w", errUsage)
		}
		for _, p := range parts {
			s, err := parseTargetSpec(p)
			if err != nil {
				return nil, false, fmt.Errorf("--compare: %w", err)
			}
			specs = append(specs, s)
		}
		if events {
			return nil, false, fmt.Errorf("--event cannot be used with --compare: %w", errUsage)
		}
		return specs, true, nil
	default:
		return nil, false, fmt.Errorf("--target or --compare is required: %w", errUsage)
	}
}

// labels returns --names, or the specs, one per target.
func (t targetFlags) labels(specs []targetSpec) ([]string, error) {
	if t.names == "" {
		var names []string
		for _, s := range specs {
			names = append(names, s.String())
		}
		return names, nil
	}
	names := strings.Split(t.names, ",")
	if len(names) != len(specs) {
		return nil, fmt.Errorf("--names has %d labels for %d targets: %w", len(names), len(specs), errUsage)
	}
	return names, nil
}

// parse turns the workload flags into a bench.Workload.
func (w workloadFlags) parse() (bench.Workload, error) {
	vs, err := bench.ParseSizeRange(w.valueSize)
	if err != nil {
		return bench.Workload{}, fmt.Errorf("--value-size: %w", err)
	}
	m, err := bench.ParseMix(w.mix)
	if err != nil {
		return bench.Workload{}, fmt.Errorf("--mix: %w", err)
	}
	var d bench.Dist
	switch w.dist {
	case "uniform":
		d = bench.Uniform
	case "zipf", "zipfian":
		d = bench.Zipfian
	default:
		return bench.Workload{}, fmt.Errorf("--dist %q: want uniform or zipf: %w", w.dist, errUsage)
	}
	return bench.Workload{Keys: w.keys, KeySize: w.keySize, Dist: d, Skew: w.skew, Mix: m, Batch: w.batch,
		ValueSize: vs, TTL: w.ttl, Seed: w.seed}, nil
}

// check rejects counts and durations out of range.
func (f *benchFlags) check() error {
	w, r := f.workload, f.run
	if w.keys < 1 || w.keySize < 1 || w.batch < 1 || r.conc < 1 || r.ops < 0 || r.rate < 0 || r.duration <= 0 || w.skew <= 0 || w.seed == 0 {
		return fmt.Errorf("--keys, --key-size, --batch, --concurrency, --duration, --skew and --seed must be > 0, --ops and --rate ≥ 0: %w", errUsage)
	}
	if r.timeout <= 0 || r.slice <= 0 || r.warmup < 0 {
		return fmt.Errorf("--timeout and --slice must be > 0, --warmup ≥ 0: %w", errUsage)
	}
	return nil
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
