package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/buildinfo"
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
	if code, ok := runSubcommand(ctx, args, stdout, stderr, tty); ok {
		return code
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "zonebench: %v\n", err)
		return 2
	}
	named, err := openTargets(o)
	defer closeTargets(named)
	if err != nil {
		fmt.Fprintf(stderr, "zonebench: %v\n", err)
		return 1
	}
	stopProfile, err := startCPUProfile(o.cpuProf)
	if err != nil {
		fmt.Fprintf(stderr, "zonebench: %v\n", err)
		return 1
	}
	defer stopProfile()
	results, err := measure(ctx, o, named, newProgress(stdout, tty))
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

// runSubcommand runs the subcommand args[0] names, if it names one.
func runSubcommand(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr, tty), true
	case "consistency":
		return runConsistency(ctx, args[1:], stdout, stderr), true
	case "server":
		return runServerBench(ctx, args[1:], stdout, stderr), true
	case "reshard-copy":
		return runReshardCopy(ctx, args[1:], stdout, stderr), true
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "zonebench", buildinfo.Read())
		return 0, true
	case writerSubcommand:
		return runConsistencyWriter(ctx, args[1:], stdout, stderr), true
	}
	return 0, false
}

// openTargets opens every target of o, labelled, wrapped to report the
// servers' CPU time with --pids. On error it returns those already open.
func openTargets(o *options) ([]bench.NamedTarget, error) {
	var named []bench.NamedTarget
	for i, spec := range o.targets {
		t, err := spec.open(openOptions{concurrency: o.cfg.Concurrency, timeout: o.timeout, tls: o.tls, auth: o.auth})
		if err != nil {
			return named, fmt.Errorf("open %s: %w", spec, err)
		}
		if f, ok := t.(interface{ Client() *client.Client }); ok && o.env != nil {
			o.env.fleet = f
		}
		if o.pids != nil {
			t = bench.WithServerCPU(t, o.pids[i]...)
		}
		named = append(named, bench.NamedTarget{Name: o.names[i], Target: t})
	}
	return named, nil
}

// closeTargets closes the targets, last opened first.
func closeTargets(named []bench.NamedTarget) {
	for i := len(named) - 1; i >= 0; i-- {
		named[i].Target.Close()
	}
}

// startCPUProfile profiles zonebench into path (--cpuprofile; none when
// empty) until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// startProfiles starts a CPU profile into cpuPath, an execution trace
// into tracePath and a mutex contention profile, written to mutexPath at
// stop (each none when empty), until the returned stop is called.
func startProfiles(cpuPath, tracePath, mutexPath string) (stop func(), err error) {
	stopCPU, err := startCPUProfile(cpuPath)
	if err != nil {
		return nil, err
	}
	var f *os.File
	if tracePath != "" {
		if f, err = os.Create(tracePath); err == nil {
			if err = trace.Start(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			stopCPU()
			return nil, fmt.Errorf("trace: %w", err)
		}
	}
	if mutexPath != "" {
		runtime.SetMutexProfileFraction(5)
	}
	return func() {
		if f != nil {
			trace.Stop()
			f.Close()
		}
		stopCPU()
		if mutexPath != "" {
			_ = writeFile(mutexPath, func(w io.Writer) error { return pprof.Lookup("mutex").WriteTo(w, 0) })
			runtime.SetMutexProfileFraction(0)
		}
	}, nil
}

// measure runs the benchmark: one target, or two compared slice by slice.
// It returns the results so far with the error of a run cut short.
func measure(ctx context.Context, o *options, named []bench.NamedTarget, prog *progress) ([]*bench.Result, error) {
	defer prog.clear()
	if o.compare {
		cc := bench.CompareConfig{Config: o.cfg, Slice: o.slice, Progress: prog.show}
		cc.Warmup = o.warmup
		cmp, err := bench.Compare(ctx, cc, named[0], named[1])
		if cmp == nil {
			return nil, err
		}
		return []*bench.Result{cmp.A, cmp.B}, err
	}
	cfg := o.cfg
	cfg.Warmup = o.warmup
	name := named[0].Name
	cfg.Progress = func(p bench.Point) { prog.show(name, p) }
	res, err := bench.Run(ctx, cfg, name, named[0].Target)
	if res == nil {
		return nil, err
	}
	return []*bench.Result{res}, err
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
