package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zonecache/zonecache/internal/tlsflag"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/reshard"
	"github.com/zonecache/zonecache/warm"
)

const warmSynopsis = `warm (--seeds HOST:PORT[,...] | --topology FILE) --node ID --from-zone ZONE [--rate N] [--json] [--checkpoint FILE]
       zonecache warm --resume --checkpoint FILE [--rate N] [--json]

Copies to a node, usually warming, the items it owns from another zone's replicas (lru_crawler
metadump on each serving node of --from-zone, then add, never over a newer value). It shows its
progress on stderr (a live display on a terminal, log lines otherwise; --json: JSON lines) and,
with --metrics-addr, serves Prometheus metrics while it runs. Ctrl-C, or --timeout, stops it with
a summary of what is left; running the same command again continues (the items already copied are
kept, counted present). It refuses, copying nothing, while a node of the node's zone or a serving
node of --from-zone does not answer: a dead node that gossip has not dropped yet would leave the
node partly cold once it is dropped.

With --checkpoint FILE it first dumps every source node and keeps, hottest first, the items the
node owns (the plan, in FILE.plan), then copies them recording which are done in FILE: after
Ctrl-C, or --timeout, --resume --checkpoint FILE continues where it stopped without dumping again.`

// warmFlags are the parsed flags of the warm command.
type warmFlags struct {
	seeds, topology, node, from string
	authFile                    string
	rate                        float64
	concurrency                 int
	checkpoint                  string
	timeout                     time.Duration
	json, resume                bool
	watch                       watch
	tls                         tlsflag.Client
}

func warmFlagSet(stderr io.Writer) (*flag.FlagSet, *warmFlags) {
	fs := newFlags("warm", warmSynopsis, stderr)
	f := &warmFlags{}
	fs.StringVar(&f.seeds, "seeds", "", "comma-separated admin HTTP addresses (host:port or URL) to fetch the topology from")
	fs.StringVar(&f.topology, "topology", "", "topology `file` (JSON, as /topology serves it); instead of --seeds, for fleets without gossip")
	fs.StringVar(&f.authFile, "auth-file", "", authFileUsage)
	fs.StringVar(&f.node, "node", "", "id of the node to warm, usually in state warming (required)")
	fs.StringVar(&f.from, "from-zone", "", "zone whose replicas are copied; not the node's own zone (required)")
	fs.Float64Var(&f.rate, "rate", 0, "items copied per second at most; 0 means no limit")
	fs.IntVar(&f.concurrency, "concurrency", warm.DefaultConcurrency, "items copied at once")
	fs.DurationVar(&f.timeout, "timeout", 0, "bound on the whole warm-up; 0 means none")
	fs.BoolVar(&f.json, "json", false, "print the result, and the progress lines, as JSON, for scripts")
	fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint `file`: plan the copy first (FILE.plan), then record in FILE the items done, for --resume")
	fs.BoolVar(&f.resume, "resume", false, "continue the interrupted warm-up of --checkpoint where it stopped")
	f.watch.flags(fs)
	f.tls.Register(fs)
	return fs, f
}

func (f *warmFlags) check() error {
	switch {
	case f.resume && f.checkpoint == "":
		return usageError{"--resume needs --checkpoint"}
	case f.rate < 0 || f.concurrency <= 0:
		return usageError{"--rate must be >= 0 and --concurrency > 0"}
	case f.resume:
		return nil
	case f.node == "":
		return usageError{"--node is required"}
	case f.from == "":
		return usageError{"--from-zone is required"}
	case (f.seeds == "") == (f.topology == ""):
		return usageError{"give one of --seeds and --topology"}
	}
	return nil
}

func warmCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := warmFlagSet(stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	node, err := nodeDial(f.tls, f.authFile)
	if err != nil {
		return err
	}
	ctx, stop := stoppable(ctx, f.timeout)
	defer stop()
	if f.checkpoint != "" {
		return f.warmCheckpointed(ctx, node, stdout, stderr)
	}
	cfg, err := f.config(ctx, node)
	if err != nil {
		return err
	}
	var st warm.Stats
	took, werr := f.watched(stderr, func() { st, err = warm.Warm(ctx, f.watch.onWarm(cfg)) })
	if werr != nil {
		return werr
	}
	return f.report(stdout, st, took, err)
}

// watched runs copy with the progress display and metrics on, and returns
// how long it took.
func (f *warmFlags) watched(stderr io.Writer, copy func()) (time.Duration, error) {
	stop, err := f.watch.start(stderr, f.json, "warm")
	if err != nil {
		return 0, err
	}
	defer stop()
	start := time.Now()
	copy()
	stop()
	return time.Since(start), nil
}

// config reads the topology and returns the warm-up's config.
func (f *warmFlags) config(ctx context.Context, node nodeclient.Config) (warm.Config, error) {
	top, err := purgeTopology(ctx, f.seeds, f.topology)
	return warm.Config{Topology: top, Target: f.node, FromZone: f.from, Rate: f.rate, Concurrency: f.concurrency, Node: node}, err
}

// warmCheckpointed plans the warm-up and copies it with a checkpoint
// (reshard.WarmPlan, reshard.Copy), or continues the copy of the
// checkpoint (reshard.Resume).
func (f *warmFlags) warmCheckpointed(ctx context.Context, node nodeclient.Config, stdout, stderr io.Writer) error {
	cc := reshard.CopyConfig{Rate: f.rate, Concurrency: f.concurrency, Checkpoint: f.checkpoint, Node: node}
	var plan *reshard.Plan
	if !f.resume {
		cfg, err := f.config(ctx, node)
		if err == nil {
			plan, err = reshard.WarmPlan(ctx, cfg, 0)
		}
		if err != nil {
			return err
		}
	}
	var st reshard.CopyStats
	var err error
	took, werr := f.watched(stderr, func() {
		if f.resume {
			plan, st, err = reshard.Resume(ctx, f.watch.onCopy(cc))
		} else {
			st, err = reshard.Copy(ctx, plan, f.watch.onCopy(cc))
		}
	})
	if werr != nil {
		return werr
	}
	if plan == nil {
		return err
	}
	return reportCopy(stdout, &f.watch, f.json, f.checkpoint, plan, st, took, err)
}

// stoppable returns ctx ended by Ctrl-C (SIGINT), SIGTERM and, when > 0,
// timeout: a copy stops cleanly and says what is left.
func stoppable(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	if timeout <= 0 {
		return ctx, stop
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, func() { cancel(); stop() }
}

// warmJSON is the --json form of a warm-up's result.
type warmJSON struct {
	Stats   warm.Stats `json:"stats"`
	Seconds float64    `json:"seconds"`
	Done    bool       `json:"done"`
	Left    []leftJSON `json:"left"`
	Error   string     `json:"error,omitempty"`
}

// report prints what the warm-up did and, when it did not finish, what is
// left and how to go on; it returns an error when it did not finish.
func (f *warmFlags) report(w io.Writer, st warm.Stats, took time.Duration, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("interrupted (%w): run the same command again to continue (the items already copied are kept, counted present)", err)
	case err == nil && st.Errors > 0:
		err = fmt.Errorf("%d items failed", st.Errors)
	}
	if f.json {
		out := warmJSON{Stats: st, Seconds: took.Seconds(), Done: err == nil, Left: f.watch.leftRows()}
		if err != nil {
			out.Error = err.Error()
		}
		if jerr := json.NewEncoder(w).Encode(out); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(w, "%s from zone %s in %v: %v\n", f.node, f.from, took.Round(time.Millisecond), st)
	if err != nil {
		f.watch.writeLeft(w)
	}
	return err
}
