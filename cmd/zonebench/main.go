package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stdout)))
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// run is zonebench without the process around it; it returns the exit
// code: 0 success, 1 failure or interruption, 2 bad command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	if len(args) > 0 {
		switch args[0] {
		case "demo":
			return runDemo(ctx, args[1:], stdout, stderr, tty)
		case "consistency":
			return runConsistency(ctx, args[1:], stdout, stderr)
		case writerSubcommand:
			return runConsistencyWriter(ctx, args[1:], stdout, stderr)
		}
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "zonebench: %v\n", err)
		return 2
	}
	var named []bench.NamedTarget
	for i, spec := range o.targets {
		t, err := spec.open(o.cfg.Concurrency, o.timeout)
		if err != nil {
			fmt.Fprintf(stderr, "zonebench: open %s: %v\n", spec, err)
			return 1
		}
		defer t.Close()
		if f, ok := t.(interface{ Client() *client.Client }); ok && o.env != nil {
			o.env.fleet = f
		}
		if o.pids != nil {
			t = bench.WithServerCPU(t, o.pids[i]...)
		}
		named = append(named, bench.NamedTarget{Name: o.names[i], Target: t})
	}

	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "zonebench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "zonebench: cpu profile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	prog := newProgress(stdout, tty)
	var results []*bench.Result
	if o.compare {
		cc := bench.CompareConfig{Config: o.cfg, Slice: o.slice, Progress: prog.show}
		cc.Warmup = o.warmup
		cmp, cerr := bench.Compare(ctx, cc, named[0], named[1])
		err = cerr
		if cmp != nil {
			results = []*bench.Result{cmp.A, cmp.B}
		}
	} else {
		cfg := o.cfg
		cfg.Warmup = o.warmup
		name := named[0].Name
		cfg.Progress = func(p bench.Point) { prog.show(name, p) }
		res, rerr := bench.Run(ctx, cfg, name, named[0].Target)
		err = rerr
		if res != nil {
			results = []*bench.Result{res}
		}
	}
	prog.clear()
	code := 0
	if err != nil {
		fmt.Fprintf(stderr, "zonebench: %v\n", err)
		code = 1
		if len(results) == 0 {
			return code
		}
		fmt.Fprintln(stderr, "zonebench: partial results follow")
	}
	if err := writeOutputs(o, results, stdout); err != nil {
		fmt.Fprintf(stderr, "zonebench: %v\n", err)
		return 1
	}
	return code
}

// writeOutputs prints the table (or JSON to stdout) and writes the JSON
// and SVG files asked for.
func writeOutputs(o *options, results []*bench.Result, stdout io.Writer) error {
	rep := bench.NewReport(o.cfg, results...)
	rep.ShowSeries = o.series
	if o.jsonPath == "-" {
		return rep.WriteJSON(stdout)
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if o.jsonPath != "" {
		if err := writeFile(o.jsonPath, rep.WriteJSON); err != nil {
			return err
		}
	}
	if o.svgPath != "" {
		title := o.title
		if title == "" {
			title = rep.Setup
		}
		if err := writeFile(o.svgPath, func(w io.Writer) error { return bench.WriteSVG(w, title, results...) }); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
