package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zonecache/zonecache/internal/serverbench"
)

// serverOptions are the flags of `zonebench server`.
type serverOptions struct {
	cfg       serverbench.Config
	memcaslap string
	duration  time.Duration
	conns     []int
	mget      serverbench.MultiGet
}

// runServerBench is `zonebench server` (`make bench-server`): memcached and
// zonecached side by side under memcaslap and a pipelined multi-get load.
func runServerBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseServerFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "zonebench server: %v\n", err)
		return 2
	}
	for _, c := range o.conns {
		o.cfg.Loads = append(o.cfg.Loads, serverbench.Memcaslap{Bin: o.memcaslap, Threads: 2, Conns: c,
			GetShare: 0.9, ValueSize: 100, Duration: o.duration})
	}
	if o.mget.Conns > 0 {
		o.mget.Duration = o.duration
		o.cfg.Loads = append(o.cfg.Loads, o.mget)
	}
	fmt.Fprintf(stdout, "memcached and zonecached, -m %d, %d threads, %d rounds of %v per load and server\n",
		o.cfg.Megabytes, o.cfg.Threads, o.cfg.Rounds, o.duration)
	samples, err := serverbench.Run(ctx, o.cfg, func(s serverbench.Sample) { serverbench.WriteSample(stdout, s) })
	fmt.Fprintln(stdout, "\nmedians over rounds; zc/mc: median ratio of the rounds [range]")
	if werr := serverbench.WriteSummary(stdout, samples); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		fmt.Fprintf(stderr, "zonebench server: %v\n", err)
		return 1
	}
	return 0
}

// parseServerFlags parses the flags of `zonebench server`.
func parseServerFlags(args []string, stderr io.Writer) (*serverOptions, error) {
	o := &serverOptions{}
	fs := flag.NewFlagSet("zonebench server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cfg.Zonecached, "zonecached", defaultZonecached(), "zonecached `binary`")
	fs.StringVar(&o.cfg.Memcached, "memcached", "/usr/bin/memcached", "memcached `binary`")
	fs.StringVar(&o.memcaslap, "memcaslap", "memcaslap", "memcaslap `binary` (libmemcached-tools)")
	fs.IntVar(&o.cfg.Megabytes, "m", 1024, "both servers' item memory in `megabytes`")
	fs.IntVar(&o.cfg.Threads, "threads", 2, "memcached -t and zonecached -t (its GOMAXPROCS)")
	fs.IntVar(&o.cfg.Rounds, "rounds", 3, "rounds; each runs every load against each server")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "length of each run (memcaslap rounds to whole seconds)")
	conns := fs.String("conns", "50,500", "memcaslap connection counts, comma-separated; empty for none")
	fs.IntVar(&o.mget.Conns, "mget-conns", 20, "multi-get load connections; 0 skips the load")
	fs.IntVar(&o.mget.Depth, "mget-depth", 8, "multi-get requests per write")
	fs.IntVar(&o.mget.KeysPerGet, "mget-keys", 100, "keys per multi-get")
	fs.IntVar(&o.mget.Keys, "mget-keyspace", 10000, "keys set before the multi-get load")
	fs.IntVar(&o.mget.ValueSize, "value-size", 100, "value size in bytes (both loads)")
	fs.StringVar(&o.cfg.ProfileDir, "profile-dir", "", "save CPU profiles of zonecached under each load of round 1 into `dir` (seconds 1 to 4 of each)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zonebench server [flags]\n\n"+
			"Starts Debian's memcached and zonecached side by side and runs memcaslap (90 %% get / 10 %% set,\n"+
			"-T 2) at each --conns and a pipelined multi-get load against each alternately; prints TPS,\n"+
			"p99, server CPU per operation (/proc/PID/stat; its user and system parts, and the server's\n"+
			"context switches per operation) and the generator's, and zonecached/memcached.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var err error
	if o.conns, err = parseInts(*conns); err != nil {
		return nil, fmt.Errorf("--conns: %w", err)
	}
	if o.mget.Conns > 0 && (o.mget.Depth < 1 || o.mget.KeysPerGet < 1 || o.mget.Keys < 1) {
		return nil, errors.New("--mget-depth, --mget-keys and --mget-keyspace must be at least 1")
	}
	if o.duration < time.Second || o.cfg.Rounds < 1 {
		return nil, errors.New("--duration must be at least 1s and --rounds at least 1")
	}
	return o, nil
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}
