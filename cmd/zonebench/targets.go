package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// errBadTarget is wrapped by every target specification error.
var errBadTarget = errors.New("bad target")

// targetSpec is a parsed --target: kind=value.
type targetSpec struct {
	Kind  string
	Value string
}

func (s targetSpec) String() string { return s.Kind + "=" + s.Value }

// targetKind is one kind of target zonebench can open.
type targetKind struct {
	name  string
	usage string
	help  string
	check func(value string) error
	open  func(value string, o openOptions) (bench.Target, error)
}

// openOptions are the client settings every kind of target opens with.
type openOptions struct {
	concurrency int
	timeout     time.Duration
	tls         *tls.Config             // nil: plain TCP
	auth        *nodeclient.Credentials // nil: none sent
}

// targetKinds lists the kinds of target.
func targetKinds() []targetKind {
	return []targetKind{{
		name:  "memcached",
		usage: "HOST:PORT[+HOST:PORT…]",
		help:  "memcached-protocol node(s) (memcached or zonecached) through gomemcache, crc32-sharded across several; MaxIdleConns = concurrency",
		check: func(v string) error { return checkAddrs(strings.Split(v, "+")) },
		open: func(v string, o openOptions) (bench.Target, error) {
			if o.auth != nil {
				return nil, fmt.Errorf("memcached targets (gomemcache) cannot authenticate: use node= or fleet= with --auth-file: %w", errBadTarget)
			}
			t := bench.NewMemcacheClusterTarget(strings.Split(v, "+"), o.concurrency, o.timeout)
			if o.tls != nil {
				t.UseTLS(o.tls)
			}
			return t, nil
		},
	}, {
		name:  "node",
		usage: "HOST:PORT",
		help:  "one zonecached (or memcached >= 1.6) through zonecache's transport: meta protocol pipelined on 2 connections",
		check: func(v string) error { return checkAddrs([]string{v}) },
		open: func(v string, o openOptions) (bench.Target, error) {
			return bench.NewNodeTarget(v, nodeclient.Config{Online: nodeclient.PoolConfig{Timeout: o.timeout}, TLS: o.tls, Auth: o.auth}), nil
		},
	}, {
		name:  "fleet",
		usage: "ZONE@FILE.json | ZONE@Z1/HOST:PORT+Z2/HOST:PORT… | ZONE@seeds:ADMIN_HOST:PORT+…",
		help:  "a zonecache fleet through the smart client living in ZONE; the topology from a JSON file (as /topology serves it), inline zone/address pairs, or discovered from seeds' admin /topology and followed during the run",
		check: func(v string) error { _, _, err := parseFleet(v, false); return err },
		open:  openFleet,
	}}
}

func findKind(name string) (targetKind, bool) {
	for _, k := range targetKinds() {
		if k.name == name {
			return k, true
		}
	}
	return targetKind{}, false
}

// parseTargetSpec reads "kind=value", or a bare "host:port" meaning
// memcached=host:port.
func parseTargetSpec(s string) (targetSpec, error) {
	s = strings.TrimSpace(s)
	kind, value, ok := strings.Cut(s, "=")
	if !ok {
		kind, value = "memcached", s
	}
	k, known := findKind(kind)
	if !known {
		var names []string
		for _, k := range targetKinds() {
			names = append(names, k.name)
		}
		return targetSpec{}, fmt.Errorf("target %q: unknown kind %q (known: %s): %w", s, kind, strings.Join(names, ", "), errBadTarget)
	}
	if strings.Contains(value, ",") {
		return targetSpec{}, fmt.Errorf("target %q: no commas allowed (--compare splits on them): %w", s, errBadTarget)
	}
	if err := k.check(value); err != nil {
		return targetSpec{}, fmt.Errorf("target %q: %w", s, err)
	}
	return targetSpec{Kind: kind, Value: value}, nil
}

// checkAddrs checks host:port addresses.
func checkAddrs(addrs []string) error {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("address %q must be host:port: %w", a, errBadTarget)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" || strings.ContainsAny(host, " \t,+/@") {
			return fmt.Errorf("bad host or port in %q: %w", a, errBadTarget)
		}
	}
	return nil
}

// seedsPrefix, after ZONE@, lists seeds' admin addresses for discovery.
const seedsPrefix = "seeds:"

// parseFleet reads "ZONE@FILE.json", "ZONE@Z1/HOST:PORT+Z2/HOST:PORT…" or
// "ZONE@seeds:HOST:PORT+…" into a client configuration and, for the last
// form, the seeds; the file is read only when load is set.
func parseFleet(v string, load bool) (client.Config, []string, error) {
	zone, rest, ok := strings.Cut(v, "@")
	if !ok || zone == "" || rest == "" || strings.ContainsAny(zone, " \t/+@") {
		return client.Config{}, nil, fmt.Errorf("fleet %q: want ZONE@FILE.json, ZONE@ZONE/HOST:PORT+… or ZONE@seeds:HOST:PORT+…: %w", v, errBadTarget)
	}
	cfg := client.Config{Zone: zone}
	if seeds, ok := strings.CutPrefix(rest, seedsPrefix); ok {
		list := strings.Split(seeds, "+")
		if err := checkAddrs(list); err != nil {
			return client.Config{}, nil, fmt.Errorf("fleet %q seeds: %w", v, err)
		}
		return cfg, list, nil
	}
	if strings.HasSuffix(rest, ".json") {
		if !load {
			return cfg, nil, nil
		}
		f, err := os.Open(rest)
		if err != nil {
			return client.Config{}, nil, fmt.Errorf("fleet topology: %w", err)
		}
		defer f.Close()
		if cfg.Topology, err = replication.DecodeTopology(f); err != nil {
			return client.Config{}, nil, fmt.Errorf("fleet topology %s: %w", rest, err)
		}
		return cfg, nil, nil
	}
	cfg.Topology.Epoch = 1
	for i, pair := range strings.Split(rest, "+") {
		z, addr, ok := strings.Cut(pair, "/")
		if !ok || z == "" || strings.ContainsAny(z, " \t@") {
			return client.Config{}, nil, fmt.Errorf("fleet %q: %q is not ZONE/HOST:PORT: %w", v, pair, errBadTarget)
		}
		if err := checkAddrs([]string{addr}); err != nil {
			return client.Config{}, nil, fmt.Errorf("fleet %q: %w", v, err)
		}
		cfg.Topology.Nodes = append(cfg.Topology.Nodes, replication.Node{ID: z + "-" + strconv.Itoa(i), Zone: z, Addr: addr})
	}
	if err := cfg.Topology.Validate(); err != nil {
		return client.Config{}, nil, fmt.Errorf("fleet %q: %v: %w", v, err, errBadTarget)
	}
	return cfg, nil, nil
}

// openFleet opens a fleet target; with seeds it fetches the topology from
// them and follows its changes until the target is closed.
func openFleet(v string, o openOptions) (bench.Target, error) {
	cfg, seeds, err := parseFleet(v, true)
	if err != nil {
		return nil, err
	}
	cfg.Node.Online.Timeout, cfg.Node.TLS, cfg.Node.Auth = o.timeout, o.tls, o.auth
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if seeds == nil {
		return bench.NewFleetTarget(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dcfg := discovery.Config{Seeds: seeds, Logger: cfg.Logger}
	if cfg.Topology, err = discovery.Fetch(ctx, dcfg); err != nil {
		cancel()
		return nil, fmt.Errorf("fleet %q: %w", v, err)
	}
	f, err := bench.NewFleetTarget(cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = discovery.Watch(ctx, dcfg, cfg.Topology, f.Client().SetTopology)
	}()
	return &watchedFleet{FleetTarget: f, stop: cancel, done: done}, nil
}

// watchedFleet is a fleet target whose topology discovery follows; Close
// stops the watch first.
type watchedFleet struct {
	*bench.FleetTarget
	stop context.CancelFunc
	done chan struct{}
}

// Close implements bench.Target.
func (w *watchedFleet) Close() error {
	w.stop()
	<-w.done
	return w.FleetTarget.Close()
}

func (s targetSpec) open(o openOptions) (bench.Target, error) {
	k, _ := findKind(s.Kind)
	return k.open(s.Value, o)
}
