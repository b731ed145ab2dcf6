package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/zonecache/zonecache/internal/consistency"
	"github.com/zonecache/zonecache/replication"
)

// writerSubcommand is the hidden subcommand the consistency checker runs
// as its writer process (the writer-exit fault).
const writerSubcommand = "consistency-writer"

// consistencyOptions are the flags of `zonebench consistency`.
type consistencyOptions struct {
	short      bool
	faults     []consistency.Fault
	servers    []consistency.Server
	duration   time.Duration
	settle     time.Duration
	window     time.Duration
	inFlight   bool
	seed       uint64
	keys       int
	policy     replication.WritePolicy
	zonecached string
	memcached  string
	noNetns    bool
	verbose    bool
	nodeLog    string
}

func parseConsistencyFlags(args []string, stderr io.Writer) (consistencyOptions, error) {
	fs := flag.NewFlagSet("zonebench consistency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f consistencyFlags
	f.register(fs)
	fs.Usage = func() { consistencyUsage(fs) }
	if err := fs.Parse(args); err != nil {
		return f.o, err
	}
	if fs.NArg() > 0 {
		return f.o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return f.options()
}

// consistencyFlags are the flags of `zonebench consistency`: those read as
// they are into o, the others as text parsed by options.
type consistencyFlags struct {
	o                              consistencyOptions
	faults, servers, policy, netns string
}

func (f *consistencyFlags) register(fs *flag.FlagSet) {
	o := &f.o
	fs.BoolVar(&o.short, "short", false, "the short form: 1 s warm-up, 3 s fault, 1 s recovery, 1 s settle, 50 keys (the gossip partition still lasts beyond the dead-node window)")
	fs.StringVar(&f.faults, "faults", "all", "comma-separated `faults` to inject, each on its own fresh fleet: "+joinFaults()+", or all")
	fs.StringVar(&f.servers, "servers", "both", "fleets to run against: zonecached (a gossiping fleet), memcached (stock memcached, static topology; kill9, sigstop, zone-cut, writer-exit apply) or both")
	fs.DurationVar(&o.duration, "duration", 0, "length of the fault phase (default 15s, 3s with --short; sigstop lasts at least until the fleet drops the node, gossip-partition until the fleet has split, then 20s more: memberlist's 15s dead-node window and a margin)")
	fs.DurationVar(&o.settle, "settle", 0, "how long readers go on after the writer stopped before the verify reads: the convergence bound lost writes are judged after (default 5s, 1s with --short)")
	fs.DurationVar(&o.window, "window", 0, "convergence window: a read that began less than this after a write was acknowledged may still return the previous version (default 0: only reads that overlap the write may)")
	fs.BoolVar(&o.inFlight, "allow-in-flight", true, "allow a read to return the previous version while the newer write, already acknowledged, was still in flight to a replica the write policy did not wait for (until that replica answered): the client's documented window; such reads are counted either way, and --allow-in-flight=false makes them fail the run")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed of the workload's key and operation choices")
	fs.IntVar(&o.keys, "keys", 0, "number of keys written and read (default 100, 50 with --short; few, so that staleness is seen)")
	fs.StringVar(&f.policy, "policy", "all-minus-one", "clients' write `policy`: none, one, quorum, all-minus-one or all")
	fs.StringVar(&o.zonecached, "zonecached", defaultZonecached(), "zonecached `binary`")
	fs.StringVar(&o.memcached, "memcached", "memcached", "memcached `binary`")
	fs.StringVar(&f.netns, "netns", "auto", "network namespaces for the zone cuts: auto (when root) or off (zone-cut falls back to fault proxies; gossip-partition cannot run)")
	fs.BoolVar(&o.verbose, "v", false, "print the schedule's steps as they happen")
	fs.StringVar(&o.nodeLog, "node-log", "", "append the nodes' and writer processes' logs, each node's lines led by its name, to `file` (default: discarded)")
}

// consistencyUsage prints what the checker does, its faults and its flags.
func consistencyUsage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "Usage: zonebench consistency [flags]\n\n"+
		"Checks that zonecache never serves an overwritten or deleted value. For each fault and server kind it\n"+
		"starts a fresh local fleet (3 zones x 2 nodes), runs a versioned writer (zone a) and a reader in every\n"+
		"zone through the smart client, and follows a schedule: warm-up, fault, heal, recovery (writes go on),\n"+
		"settle (writer stopped), verify (every key read in every zone). It prints per fault the stale reads\n"+
		"(older than the last version acknowledged before the read began, or a value after an acknowledged\n"+
		"delete: count, oldest in versions and in time), the acknowledged writes lost (last acknowledged set\n"+
		"readable from no zone after the settle time) and the errors returned to callers. Its last line is\n"+
		"CONSISTENCY: N stale reads, M lost writes, K caller errors; it exits 1 when any is non-zero or a fault\n"+
		"could not be injected. No fault takes away more than one zone, so no caller error is expected, except\n"+
		"\"write policy not met\" during a fault under --policy all: those are counted in K, named in the report,\n"+
		"and do not fail the run.\n\n"+
		"Faults:\n"+
		"  kill9             node a-2 killed (SIGKILL), restarted empty on its address after --duration\n"+
		"  sigstop           node a-2 frozen (SIGSTOP) for --duration, on zonecached at least until the fleet\n"+
		"                    dropped it, then thawed\n"+
		"  zone-cut          zone c's nodes in a network namespace whose link goes down for --duration (silent\n"+
		"                    drops), then up; clients have a static topology, also on zonecached; without\n"+
		"                    root, fault proxies hold zone c's responses instead\n"+
		"  join-drain        node a-3 joins zone a serving, takes writes for --duration, is set draining and\n"+
		"                    stopped (zonecached)\n"+
		"  writer-exit       the writer is a separate process with a repair spool; zone c frozen, the writer\n"+
		"                    killed (SIGKILL) with repairs pending, zone c thawed and a new writer process started\n"+
		"                    on the same spool: it takes the repairs over and writes on (down at most 3s on\n"+
		"                    zonecached)\n"+
		"  gossip-partition  zone c cut off longer than failure detection + memberlist's dead-node window,\n"+
		"                    then healed; verify clients bootstrap from their own zone's seeds (zonecached, root)\n"+
		"  reshard-kill      a reshard (the reshard library) grows zone a by a-3, started warming; a-3 is killed\n"+
		"                    (SIGKILL) mid-copy, restarted empty and warming after --duration, and the reshard is\n"+
		"                    continued from its checkpoint to its end: copy resumed, cutover, clean-up (zonecached)\n\n")
	fs.PrintDefaults()
}

// options parses the text flags and checks the others.
func (f *consistencyFlags) options() (consistencyOptions, error) {
	o := f.o
	var err error
	if o.faults, err = parseFaults(f.faults); err != nil {
		return o, err
	}
	if o.servers, err = parseServers(f.servers); err != nil {
		return o, err
	}
	if o.policy, err = replication.ParseWritePolicy(f.policy); err != nil {
		return o, fmt.Errorf("--policy: %w", err)
	}
	switch f.netns {
	case "auto":
	case "off":
		o.noNetns = true
	default:
		return o, fmt.Errorf("--netns %q: want auto or off", f.netns)
	}
	if o.duration < 0 || o.settle < 0 || o.window < 0 || o.keys < 0 {
		return o, errors.New("--duration, --settle, --window and --keys must be >= 0")
	}
	return o, nil
}

// parseServers reads --servers.
func parseServers(s string) ([]consistency.Server, error) {
	switch s {
	case "zonecached", "memcached":
		return []consistency.Server{consistency.Server(s)}, nil
	case "both":
		return []consistency.Server{consistency.Zonecached, consistency.Memcached}, nil
	default:
		return nil, fmt.Errorf("--servers %q: want zonecached, memcached or both", s)
	}
}

func joinFaults() string {
	var s []string
	for _, f := range consistency.Faults {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}

func parseFaults(s string) ([]consistency.Fault, error) {
	if s == "all" {
		return consistency.Faults, nil
	}
	var out []consistency.Fault
	for name := range strings.SplitSeq(s, ",") {
		f := consistency.Fault(strings.TrimSpace(name))
		if !slices.Contains(consistency.Faults, f) {
			return nil, fmt.Errorf("--faults: unknown fault %q (known: %s)", f, joinFaults())
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// runConsistency is `zonebench consistency`; it returns the exit code.
func runConsistency(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseConsistencyFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "zonebench consistency: %v\n", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "zonebench consistency: %v\n", err)
		return 1
	}
	if mc, err := exec.LookPath(o.memcached); err == nil {
		o.memcached = mc
	}
	if !o.noNetns && !consistency.CanUseNetns() {
		fmt.Fprintf(stdout, "not root: no network namespaces; zone-cut uses fault proxies (a weaker fault), gossip-partition is skipped\n")
	}
	fmt.Fprintf(stdout, "convergence window: %v (reads that began before a write was acknowledged may return the previous version%s%s)\n\n",
		o.window, map[bool]string{true: "", false: "; so may reads that began within the window after it"}[o.window == 0],
		map[bool]string{true: "; so may reads that began while the write was still in flight to a replica", false: ""}[o.inFlight])
	var reps []*consistency.Report
	failed := false
	for _, srv := range o.servers {
		for _, f := range o.faults {
			if !consistency.Applies(f, srv) {
				continue
			}
			rep, err := runOneFault(ctx, o, f, srv, exe, stdout)
			if err != nil {
				failed = true
				fmt.Fprintf(stdout, "ERROR %s/%s: %v\n\n", f, srv, err)
				if errors.Is(err, consistency.ErrNotApplicable) {
					failed = false
				}
				if ctx.Err() != nil {
					fmt.Fprintln(stdout, consistency.Summary(reps))
					return 1
				}
				continue
			}
			reps = append(reps, rep)
			failed = failed || rep.Result.Failed()
		}
	}
	fmt.Fprintln(stdout, consistency.Summary(reps))
	if failed {
		return 1
	}
	return 0
}

func runOneFault(ctx context.Context, o consistencyOptions, f consistency.Fault, srv consistency.Server, exe string, stdout io.Writer) (*consistency.Report, error) {
	cfg := consistency.RunConfig{
		Fault: f, Server: srv, Zonecached: o.zonecached, Memcached: o.memcached,
		WriterCommand: []string{exe, writerSubcommand},
		Short:         o.short, Duration: o.duration, Settle: o.settle, Window: o.window, AllowInFlight: o.inFlight, Policy: o.policy,
		Workload: consistency.WorkloadConfig{Seed: o.seed}, NoNetns: o.noNetns,
	}
	if o.keys > 0 {
		cfg.Workload.Keys = consistency.Keys(o.keys)
	}
	if o.verbose {
		cfg.Log = stdout
		fmt.Fprintf(stdout, "-- %s on %s\n", f, srv)
	}
	if o.nodeLog != "" {
		lf, err := os.OpenFile(o.nodeLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("node log: %w", err)
		}
		defer lf.Close()
		fmt.Fprintf(lf, "-- %s on %s\n", f, srv)
		cfg.NodeLog = lf
	}
	rep, err := consistency.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	_, werr := rep.WriteTo(stdout)
	return rep, werr
}

// runConsistencyWriter is the hidden writer subprocess: its one argument
// is a consistency.WriterSpec in JSON; it writes until killed.
func runConsistencyWriter(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var spec consistency.WriterSpec
	if len(args) != 1 {
		fmt.Fprintf(stderr, "zonebench %s: want one JSON argument\n", writerSubcommand)
		return 2
	}
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		fmt.Fprintf(stderr, "zonebench %s: %v\n", writerSubcommand, err)
		return 2
	}
	if err := consistency.RunWriterProcess(ctx, spec, stdout); err != nil {
		fmt.Fprintf(stderr, "zonebench %s: %v\n", writerSubcommand, err)
		return 1
	}
	return 0
}
