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
	name  string
	help  string
	multi bool // accepts several addresses joined by '+'
	open  func(addrs []string, concurrency int, timeout time.Duration) (bench.Target, error)
}

// targetKinds lists the kinds of target; the smart client ("fleet") joins
// when it exists.
func targetKinds() []targetKind {
	return []targetKind{{
		name:  "memcached",
		help:  "memcached-protocol node(s) (memcached or zonecached) at host:port[+host:port…] through gomemcache (crc32 sharding across several), MaxIdleConns = concurrency",
		multi: true,
		open: func(addrs []string, concurrency int, timeout time.Duration) (bench.Target, error) {
			return bench.NewMemcacheClusterTarget(addrs, concurrency, timeout), nil
		},
	}, {
		name: "node",
		help: "one zonecached (or memcached >= 1.6) at host:port through zonecache's transport: meta protocol pipelined on 2 connections",
		open: func(addrs []string, _ int, timeout time.Duration) (bench.Target, error) {
			return bench.NewNodeTarget(addrs[0], 0, timeout), nil
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

// parseTargetSpec reads "kind=host:port", a bare "host:port" meaning kind
// memcached, or, for kinds that shard, "kind=host:port+host:port…".
func parseTargetSpec(s string) (targetSpec, error) {
	s = strings.TrimSpace(s)
	kind, addr, ok := strings.Cut(s, "=")
	if !ok {
		kind, addr = "memcached", s
	}
	k, known := findKind(kind)
	if !known {
		var names []string
		for _, k := range targetKinds() {
			names = append(names, k.name)
		}
		return targetSpec{}, fmt.Errorf("target %q: unknown kind %q (known: %s): %w", s, kind, strings.Join(names, ", "), errBadTarget)
	}
	addrs := strings.Split(addr, "+")
	if len(addrs) > 1 && !k.multi {
		return targetSpec{}, fmt.Errorf("target %q: kind %s takes one address: %w", s, kind, errBadTarget)
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return targetSpec{}, fmt.Errorf("target %q: address %q must be host:port: %w", s, a, errBadTarget)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" || strings.ContainsAny(host, " \t,+") {
			return targetSpec{}, fmt.Errorf("target %q: bad host or port in %q: %w", s, a, errBadTarget)
		}
	}
	return targetSpec{Kind: kind, Addr: addr}, nil
}

func (s targetSpec) open(concurrency int, timeout time.Duration) (bench.Target, error) {
	k, _ := findKind(s.Kind)
	return k.open(strings.Split(s.Addr, "+"), concurrency, timeout)
}
