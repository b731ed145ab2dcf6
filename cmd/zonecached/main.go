package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zonecache/zonecache/internal/buildinfo"
	"github.com/zonecache/zonecache/internal/tlsflag"
	"github.com/zonecache/zonecache/server"
)

// ErrRestartInFleet is the flag check's error for --restart-file with
// --zone: a fleet node that comes back must start empty, as writes and
// deletes made while it was down never reached it.
var ErrRestartInFleet = errors.New("--restart-file is for standalone nodes: a fleet node (--zone) that comes back must start empty, as writes and deletes made while it was down never reached it")

// shutdownTimeout bounds how long in-flight commands may take after SIGTERM.
const shutdownTimeout = 30 * time.Second

// options are the parsed command line.
type options struct {
	cfg       server.Config
	admin     adminOptions
	pprof     bool
	level     slog.Level
	logFormat string
	version   bool
	fleet     fleetOptions
	purge     purgeOptions
	threads   int // GOMAXPROCS (-t); 0: Go's default
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "zonecached:", err)
		return 2
	}
	if opts.version {
		fmt.Fprintln(stdout, "zonecached", buildinfo.Read())
		return 0
	}
	log := newLogger(stderr, opts.logFormat, opts.level)
	opts.cfg.Logger = log

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, opts, log); err != nil {
		log.Error("zonecached failed", "err", err)
		return 1
	}
	return 0
}

// newLogger returns the process's logger: slog's text or JSON handler
// (--log-format) at level.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// listen binds the cache port and, when configured, the admin port. Both
// are bound before the node joins the fleet: once gossip shows the node,
// its admin endpoint accepts connections (they wait in the backlog until
// it serves) instead of refusing them.
func listen(ctx context.Context, opts options) (ln, aln net.Listener, err error) {
	var lc net.ListenConfig
	if ln, err = lc.Listen(ctx, "tcp", opts.cfg.Addr); err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", opts.cfg.Addr, err)
	}
	if opts.admin.addr == "" {
		return ln, nil, nil
	}
	if aln, err = lc.Listen(ctx, "tcp", opts.admin.addr); err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("admin listen on %s: %w", opts.admin.addr, err)
	}
	return ln, aln, nil
}

// serve runs the cache server (and the admin listener) until ctx ends, then
// shuts down gracefully.
func serve(ctx context.Context, opts options, log *slog.Logger) error {
	if opts.threads > 0 {
		runtime.GOMAXPROCS(opts.threads)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The garbage collector's soft limit keeps the process within
		// server.Config.MemoryBound under overload.
		debug.SetMemoryLimit(opts.cfg.GoMemoryLimit())
	}
	log.Info("memory bound", "bytes", opts.cfg.MemoryBound(), "go_memory_limit", debug.SetMemoryLimit(-1), "threads", runtime.GOMAXPROCS(0))
	srv, err := server.New(opts.cfg)
	if err != nil {
		return err
	}
	ln, aln, err := listen(ctx, opts)
	if err != nil {
		_ = srv.Close()
		return err
	}
	member, err := startMember(ctx, opts.fleet, ln.Addr().String(), srv, srv.Registry(), log)
	if err != nil {
		if aln != nil {
			aln.Close()
		}
		ln.Close()
		_ = srv.Close()
		return err
	}
	var admin *http.Server
	if aln != nil {
		admin, aln = newAdminServer(opts.admin, withPprof(adminHandler(srv, member), opts.pprof), aln, srv.Registry())
		go func() {
			if err := admin.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin listener failed", "err", err)
			}
		}()
		log.Info("admin listening", "addr", aln.Addr().String(), "max_conns", opts.admin.maxConns,
			"token", opts.admin.token != "", "insecure", opts.admin.insecure)
	}

	if member != nil {
		startPurge(ctx, srv, member, opts.purge, member.Name(), log)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(context.Background(), ln) }()

	select {
	case <-ctx.Done():
		drain(member, srv, opts.fleet.drainTimeout, log)
		log.Info("shutting down: finishing in-flight commands")
	case err := <-serveErr:
		if member != nil {
			_ = member.Shutdown()
		}
		_ = srv.Close()
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	<-serveErr
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// flagValues are the flags as defined on a FlagSet, read after parsing.
type flagValues struct {
	port, conns, eventLoops   *int
	host, itemSize, cert, key *string
	clientCA, level           *string
	logFormat                 *string
	handshakeTimeout          *time.Duration
	version                   *bool
	mem                       *int64
	noMeta, verbose, pprof    *bool
	ioURing                   *bool
	restartFile               string
	admin                     adminOptions
	fleet                     fleetOptions
	purge                     purgeOptions
	cachePort                 cachePortOptions
	compat                    compatOptions
}

// defineFlags defines every zonecached flag on fs.
func defineFlags(fs *flag.FlagSet) *flagValues {
	v := &flagValues{}
	v.port = fs.Int("p", 11211, "TCP `port` to listen on")
	v.host = fs.String("l", "127.0.0.1", "`address` to listen on; 0.0.0.0 or :: listens on all interfaces")
	v.mem = fs.Int64("m", 64, "item memory limit in `megabytes`")
	v.itemSize = fs.String("I", "1m", "largest item, counted as memcached (key + value + 59 bytes), with k or m suffix (1k to 1024m, at most half of -m)")
	v.conns = fs.Int("c", 1024, "maximum simultaneous client `connections`; more are refused with \"ERROR Too many open connections\"")
	v.eventLoops = fs.Int("event-loops", 0, "epoll `loops` serving plain TCP connections instead of a goroutine each (a command that must wait moves its connection to a goroutine); 0: one per thread (-t); -1: none, a goroutine per connection")
	v.cert = fs.String("tls-cert", "", "TLS certificate chain `file` (PEM); with --tls-key, clients must speak TLS")
	v.key = fs.String("tls-key", "", "TLS private key `file` (PEM)")
	v.admin.register(fs)
	v.clientCA = fs.String("tls-client-ca", "", "CA certificates `file` (PEM): with --tls-cert, clients must present a certificate signed by one of them (mutual TLS)")
	v.handshakeTimeout = fs.Duration("tls-handshake-timeout", server.DefaultTLSHandshakeTimeout, "how long a new TLS connection may take to complete its handshake; it holds one of -c meanwhile")
	v.pprof = fs.Bool("pprof", false, "serve Go's profiles under /debug/pprof/ on the admin listener (CPU, heap, goroutines; for measurements)")
	v.ioURing = fs.Bool("io-uring", true, "event loops read their ready connections with one io_uring system call and send the replies with one, where the kernel allows it (else, or with --io-uring=false, a read and a write per request)")
	v.noMeta = fs.Bool("disable-meta", false, "answer the meta commands (mg, ms, md, ma, mn, me) with ERROR, as memcached before 1.6 does; for testing clients' text fallbacks")
	v.verbose = fs.Bool("v", false, "verbose: log at debug level")
	fs.StringVar(&v.restartFile, "restart-file", "", "warm restart, as memcached's -e: SIGTERM saves the store to this `file` and the next start loads it (values, flags, TTLs, CAS), then removes it; standalone nodes only (not with --zone)")
	fs.StringVar(&v.restartFile, "e", "", "the same as --restart-file `file`")
	v.cachePort.register(fs)
	v.compat.register(fs)
	v.fleet.register(fs)
	v.purge.register(fs)
	v.level = fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	v.logFormat = fs.String("log-format", "text", "log `format`: text (key=value) or json (one object a line)")
	v.version = fs.Bool("version", false, "print the version (module version, VCS revision, Go version) and exit")
	return v
}

// parseFlags parses the command line. Flags take one or two dashes.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("zonecached", flag.ContinueOnError)
	fs.SetOutput(stderr)
	v := defineFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zonecached [flags]\n\nA memcached 1.6 compatible cache node (text and meta protocols).\nFlags may be written with one or two dashes.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	fs.Visit(func(f *flag.Flag) { v.fleet.weightSet = v.fleet.weightSet || f.Name == "weight" })
	return v.options()
}

// logging checks the log flags (-v, --log-level, --log-format) into o.
func (v *flagValues) logging(o *options) error {
	if err := o.level.UnmarshalText([]byte(*v.level)); err != nil {
		return fmt.Errorf("--log-level %q: %w", *v.level, err)
	}
	if *v.verbose {
		o.level = slog.LevelDebug
	}
	if f := *v.logFormat; f != "text" && f != "json" {
		return fmt.Errorf("--log-format %q: want text or json", f)
	}
	o.logFormat = *v.logFormat
	return nil
}

// options checks the parsed flags and turns them into zonecached's options.
func (v *flagValues) options() (options, error) {
	var o options
	var err error
	if o.cfg, err = v.serverConfig(); err != nil {
		return o, err
	}
	if err := v.cachePort.apply(&o.cfg); err != nil {
		return o, err
	}
	if err := v.compat.check(); err != nil {
		return o, err
	}
	o.threads = v.compat.threads
	if err := v.logging(&o); err != nil {
		return o, err
	}
	o.version = *v.version
	if o.cfg.TLS, err = v.tlsConfig(); err != nil {
		return o, err
	}
	if err := v.admin.check(); err != nil {
		return o, err
	}
	o.admin = v.admin
	o.cfg.AdminConns = o.admin.conns()
	if *v.handshakeTimeout <= 0 {
		return o, fmt.Errorf("--tls-handshake-timeout %v: must be positive", *v.handshakeTimeout)
	}
	o.cfg.TLSHandshakeTimeout = *v.handshakeTimeout
	o.pprof = *v.pprof
	if err := v.fleet.validate(o.cfg.Addr); err != nil {
		return o, err
	}
	if o.cfg.PauseBound, err = v.fleet.pauseBound(); err != nil {
		return o, err
	}
	o.cfg.RejoinQuarantine = v.fleet.quarantine
	if v.fleet.quarantine <= 0 {
		o.cfg.RejoinQuarantine = -1 // the flag's 0 is "off", the config's is "default"
	}
	o.fleet = v.fleet
	if v.restartFile != "" && v.fleet.zone != "" {
		return o, ErrRestartInFleet
	}
	o.cfg.RestartFile = v.restartFile
	if _, err := v.purge.sharding(); err != nil {
		return o, err
	}
	o.purge = v.purge
	return o, nil
}

// serverConfig checks the cache's flags (-p, -m, -I, -c) and returns the
// server's config, without TLS and pause bound.
func (v *flagValues) serverConfig() (server.Config, error) {
	port, mem, conns := *v.port, *v.mem, *v.conns
	if port < 1 || port > 65535 {
		return server.Config{}, fmt.Errorf("-p %d: port out of range", port)
	}
	if mem < 1 {
		return server.Config{}, fmt.Errorf("-m %d: must be at least 1 megabyte", mem)
	}
	size, err := v.maxItemSize()
	if err != nil {
		return server.Config{}, err
	}
	if conns < 1 {
		return server.Config{}, fmt.Errorf("-c %d: must be at least 1", conns)
	}
	if *v.eventLoops < -1 {
		return server.Config{}, fmt.Errorf("--event-loops %d: give a number of loops, 0 for one per thread, or -1 for none", *v.eventLoops)
	}
	return server.Config{
		Addr:           net.JoinHostPort(*v.host, strconv.Itoa(port)),
		MaxBytes:       mem << 20,
		MaxItemSize:    size,
		MaxConns:       conns,
		DisableMeta:    *v.noMeta,
		DisableIOURing: !*v.ioURing,
		EventLoops:     *v.eventLoops,
	}, nil
}

// maxItemSize reads -I: 1k to 1024m, at most half of -m.
func (v *flagValues) maxItemSize() (int, error) {
	size, err := parseSize(*v.itemSize)
	if err != nil {
		return 0, fmt.Errorf("-I %s: %w", *v.itemSize, err)
	}
	if size < 1<<10 || size > 1<<30 {
		return 0, fmt.Errorf("-I %s: must be between 1k and 1024m", *v.itemSize)
	}
	if int64(size) > *v.mem<<20/2 {
		// memcached refuses it too: "Cannot set item size limit higher
		// than 1/2 of memory max."
		return 0, fmt.Errorf("-I %s: more than half of -m %d megabytes", *v.itemSize, *v.mem)
	}
	return size, nil
}

// tlsConfig loads --tls-cert, --tls-key and --tls-client-ca (nil without
// them).
func (v *flagValues) tlsConfig() (*tls.Config, error) {
	cert, key := *v.cert, *v.key
	if (cert == "") != (key == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cert == "" {
		if *v.clientCA != "" {
			return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if *v.clientCA != "" {
		pool, err := tlsflag.LoadPool(*v.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	return cfg, nil
}

// parseSize reads a byte count with an optional k or m suffix, like
// memcached's -I.
func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return n * mult, nil
}
