package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/zonecache/zonecache/bench"
)

// errBadTarget is wrapped by every target specification error.
var errBadTarget = errors.New("bad target")

// targetSpec is a parsed --target: kind=address.
type targetSpec struct {
	Kind string
	Addr string
}

func (s targetSpec) String() string { return s.Kind + "=" + s.Addr }

// targetKind is one kind of target zonebench can open.
type targetKind struct {
	name string
	help string
	open func(addr string, concurrency int, timeout time.Duration) (bench.Target, error)
}

// targetKinds lists the kinds of target; the smart client ("fleet") joins
// when it exists.
func targetKinds() []targetKind {
	return []targetKind{{
		name: "memcached",
		help: "one memcached-protocol node (memcached or zonecached) at host:port through gomemcache, MaxIdleConns = concurrency",
		open: func(addr string, concurrency int, timeout time.Duration) (bench.Target, error) {
			return bench.NewMemcacheTarget(addr, concurrency, timeout), nil
		},
	}, {
		name: "node",
		help: "one zonecached (or memcached >= 1.6) at host:port through zonecache's transport: meta protocol pipelined on 2 connections",
		open: func(addr string, _ int, timeout time.Duration) (bench.Target, error) {
			return bench.NewNodeTarget(addr, 0, timeout), nil
		},
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

// parseTargetSpec reads "kind=host:port", or a bare "host:port" meaning
// kind memcached.
func parseTargetSpec(s string) (targetSpec, error) {
	s = strings.TrimSpace(s)
	kind, addr, ok := strings.Cut(s, "=")
	if !ok {
		kind, addr = "memcached", s
	}
	if _, known := findKind(kind); !known {
		var names []string
		for _, k := range targetKinds() {
			names = append(names, k.name)
		}
		return targetSpec{}, fmt.Errorf("target %q: unknown kind %q (known: %s): %w", s, kind, strings.Join(names, ", "), errBadTarget)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return targetSpec{}, fmt.Errorf("target %q: address must be host:port: %w", s, errBadTarget)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" || strings.ContainsAny(host, " \t,") {
		return targetSpec{}, fmt.Errorf("target %q: bad host or port: %w", s, errBadTarget)
	}
	return targetSpec{Kind: kind, Addr: addr}, nil
}

func (s targetSpec) open(concurrency int, timeout time.Duration) (bench.Target, error) {
	k, _ := findKind(s.Kind)
	return k.open(s.Addr, concurrency, timeout)
}
