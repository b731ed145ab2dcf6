package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/sharding"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	rc := run(context.Background(), args, &out, &errb)
	return rc, out.String(), errb.String()
}

func TestUsageErrorsAndHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		rc   int
		want string // in stderr
	}{
		{nil, 2, "commands:"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"status"}, 2, "--seeds is required"},
		{[]string{"status", "--nope"}, 2, "not defined"},
		{[]string{"status", "--seeds", "x", "extra"}, 2, "unexpected arguments"},
		{[]string{"promote"}, 2, "--admin is required"},
		{[]string{"promote", "--admin", "127.0.0.1:1", "--to", "gone"}, 2, "want joining"},
		{[]string{"warm", "--seeds", "x", "--from-zone", "b"}, 2, "--node is required"},
		{[]string{"warm", "--seeds", "x", "--node", "a-2"}, 2, "--from-zone is required"},
		{[]string{"warm", "--seeds", "x", "--node", "a-2", "--from-zone", "b", "--rate", "-1"}, 2, "--rate"},
		{[]string{"status", "-h"}, 0, "-timeout"},
		{[]string{"promote", "-h"}, 0, "-admin"},
		{[]string{"warm", "-h"}, 0, "-from-zone"},
	} {
		rc, _, stderr := runCLI(c.args...)
		if rc != c.rc || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: rc %d stderr %q, want rc %d and %q", c.args, rc, stderr, c.rc, c.want)
		}
	}
	for _, f := range []string{"-seeds", "-node", "-rate", "-concurrency", "-timeout"} {
		if _, _, stderr := runCLI("warm", "-h"); !strings.Contains(stderr, f) {
			t.Errorf("warm -h does not document %s", f)
		}
	}
	if rc, stdout, _ := runCLI("help"); rc != 0 || !strings.Contains(stdout, "promote") {
		t.Errorf("help: rc %d %q", rc, stdout)
	}
}

func TestPromoteFailsOnADeadNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if rc, _, stderr := runCLI("promote", "--admin", addr, "--timeout", "2s"); rc != 1 || stderr == "" {
		t.Fatalf("promote of a closed port: rc %d %q", rc, stderr)
	}
}

// nodeLine matches the status line of node id and captures state and items.
func nodeLine(out, id string) (state, items string, ok bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s+\S+\s+\S+\s+(\S+)\s+(\S+)\s*$`).FindStringSubmatch(out)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// waitStatus runs status until ok accepts its output.
func waitStatus(t *testing.T, seeds string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc, out, errs := runCLI("status", "--seeds", seeds, "--timeout", "2s")
		if rc == 0 && ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never matched: rc %d\n%s%s", rc, out, errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStatusWarmPromoteOnAFleet(t *testing.T) {
	ctx := context.Background()
	f, err := fleet.Start(ctx, fleet.Config{Binary: testproc.ZonecachedBinary(t), Zones: []string{"a", "b"}, NodesPerZone: 1, Gossip: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	b := nodeclient.NewNode(f.Zone("b")[0].Addr, nodeclient.Config{})
	defer b.Close()
	const nkeys = 200
	for i := range nkeys {
		if err := b.Online().Set(ctx, nodeclient.Item{Key: fmt.Sprintf("cli:%d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	seeds := strings.Join(f.AdminAddrs(), ",")
	out := waitStatus(t, seeds, func(out string) bool {
		_, items, ok := nodeLine(out, "b-1")
		_, _, okA := nodeLine(out, "a-1")
		return ok && okA && items == fmt.Sprint(nkeys)
	})
	if !strings.Contains(out, "NODE") || !strings.Contains(out, f.Zone("b")[0].Addr) {
		t.Fatalf("status without header or address:\n%s", out)
	}

	tn, err := f.Add(ctx, "a", "a-2", "--state", "warming")
	if err != nil {
		t.Fatal(err)
	}
	seeds = strings.Join(f.AdminAddrs(), ",")
	waitStatus(t, seeds, func(out string) bool {
		st, items, ok := nodeLine(out, "a-2")
		return ok && st == "warming" && items == "0"
	})

	rc, wout, werr := runCLI("warm", "--seeds", seeds, "--node", "a-2", "--from-zone", "b", "--rate", "100000")
	if rc != 0 {
		t.Fatalf("warm: rc %d\n%s%s", rc, wout, werr)
	}
	ring, err := sharding.New([]sharding.Node{{ID: "a-1"}, {ID: "a-2"}}, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	owned := 0
	for i := range nkeys {
		if ring.Node(ring.IndexString(fmt.Sprintf("cli:%d", i))).ID == "a-2" {
			owned++
		}
	}
	if want := fmt.Sprintf("scanned=%d copied=%d ", nkeys, owned); owned == 0 || !strings.Contains(wout, want) {
		t.Fatalf("warm printed %q, want %q", wout, want)
	}
	out = waitStatus(t, seeds, func(string) bool { return true })
	if _, items, _ := nodeLine(out, "a-2"); items != fmt.Sprint(owned) {
		t.Fatalf("a-2 holds %s items after warm, want %d:\n%s", items, owned, out)
	}

	rc, pout, perr := runCLI("promote", "--admin", tn.AdminAddr)
	if rc != 1 || !strings.Contains(perr, "401") || !strings.Contains(perr, "Authorization: Bearer") {
		t.Fatalf("promote without the admin token: rc %d %q %q; want rc 1 and the node's 401", rc, pout, perr)
	}
	t.Setenv("ZONECACHE_ADMIN_TOKEN_FILE", f.AdminTokenFile())
	rc, pout, perr = runCLI("promote", "--admin", tn.AdminAddr)
	if rc != 0 || !strings.Contains(pout, "serving") {
		t.Fatalf("promote with $ZONECACHE_ADMIN_TOKEN_FILE: rc %d %q %q", rc, pout, perr)
	}
	waitStatus(t, seeds, func(out string) bool {
		st, _, ok := nodeLine(out, "a-2")
		return ok && st == "serving"
	})
}
