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
	"github.com/zonecache/zonecache/warm"
)

const warmSynopsis = `warm (--seeds HOST:PORT[,...] | --topology FILE) --node ID --from-zone ZONE [--rate N] [--json]

Copies to a node, usually warming, the items it owns from another zone's replicas (lru_crawler
metadump on each serving node of --from-zone, then add, never over a newer value). It shows its
progress on stderr (a live display on a terminal, log lines otherwise; --json: JSON lines) and,
with --metrics-addr, serves Prometheus metrics while it runs. Ctrl-C, or --timeout, stops it with
a summary of what is left; running the same command again continues (the items already copied are
kept, counted present). It refuses, copying nothing, while a node of the node's zone or a serving
node of --from-zone does not answer: a dead node that gossip has not dropped yet would leave the
node partly cold once it is dropped.`

// warmFlags are the parsed flags of the warm command.
type warmFlags struct {
	seeds, topology, node, from string
	authFile                    string
	rate                        float64
	concurrency                 int
	timeout                     time.Duration
	json                        bool
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
	f.watch.flags(fs)
	f.tls.Register(fs)
	return fs, f
}

func (f *warmFlags) check() error {
	switch {
	case f.node == "":
		return usageError{"--node is required"}
	case f.from == "":
		return usageError{"--from-zone is required"}
	case f.rate < 0 || f.concurrency <= 0:
		return usageError{"--rate must be >= 0 and --concurrency > 0"}
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
	top, err := purgeTopology(ctx, f.seeds, f.topology)
	if err != nil {
		return err
	}
	stopWatch, err := f.watch.start(stderr, f.json, "warm")
	if err != nil {
		return err
	}
	defer stopWatch()
	start := time.Now()
	st, err := warm.Warm(ctx, f.watch.onWarm(warm.Config{Topology: top, Target: f.node, FromZone: f.from, Rate: f.rate, Concurrency: f.concurrency, Node: node}))
	stopWatch()
	return f.report(stdout, st, time.Since(start), err)
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
