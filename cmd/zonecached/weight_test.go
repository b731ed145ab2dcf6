package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/internal/testproc"
)

// weightNode starts fleet node a-1 alone with extra flags and returns its
// process and admin client, once the admin listener answers.
func weightNode(t *testing.T, tok string, extra ...string) (*testproc.Process, *admin.Client) {
	t.Helper()
	adminAddr := freeAddr(t)
	p := testproc.StartZonecached(t, append([]string{"--zone", "a", "--node-name", "a-1", "--gossip-addr", freeAddr(t),
		"--admin-addr", adminAddr, "--gossip-profile", "local", "--drain-timeout", "1s", "--admin-token-file", tok}, extra...)...)
	c := admin.New(adminAddr)
	c.Token = testToken
	testproc.Eventually(t, 30*time.Second, "admin answering", func() bool { return c.Healthy(context.Background()) == nil })
	return p, c
}

// advertised returns the weight and next weight node a-1 advertises.
func advertised(t *testing.T, c *admin.Client) (int, int) {
	t.Helper()
	top, err := c.Topology(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, ok := top.Node("a-1")
	if !ok {
		t.Fatalf("a-1 not in %+v", top)
	}
	return n.EffectiveWeight(), n.NextWeight
}

// A weight set at runtime (POST /weight, as a reshard does) survives a
// restart with the same flags when the node has a --weight-file; a
// restart with another --weight is refused with what to do, one with the
// kept weight starts.
func TestRuntimeWeightSurvivesARestartWithWeightFile(t *testing.T) {
	ctx := context.Background()
	tok := tokenFile(t, testToken, 0o600)
	file := filepath.Join(t.TempDir(), "weights.json")
	p, c := weightNode(t, tok, "--weight-file", file)
	if w, next := advertised(t, c); w != 1 || next != 0 {
		t.Fatalf("at first start: weight %d next %d, want 1 and 0", w, next)
	}
	if err := c.SetWeight(ctx, 3, 0); err != nil {
		t.Fatal(err)
	}
	restart := func(extra ...string) *admin.Client {
		t.Helper()
		if err := p.Terminate(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		p, c = weightNode(t, tok, append([]string{"--weight-file", file}, extra...)...)
		return c
	}
	if w, next := advertised(t, restart()); w != 3 || next != 0 {
		t.Fatalf("restarted after POST /weight 3: weight %d next %d, want 3 and 0", w, next)
	}
	if err := c.SetWeight(ctx, 3, 5); err != nil { // a reshard's first step towards 5
		t.Fatal(err)
	}
	if w, next := advertised(t, restart("--weight", "3")); w != 3 || next != 5 {
		t.Fatalf("restarted with --weight 3 after next 5: weight %d next %d, want 3 and 5", w, next)
	}
	if err := p.Terminate(15 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Another --weight would move keys without a reshard: refused.
	cmd := exec.Command(testproc.ZonecachedBinary(t), "-p", strconv.Itoa(testproc.FreePort(t, "127.0.0.1")), "--zone", "a", "--node-name", "a-1",
		"--gossip-addr", freeAddr(t), "--admin-addr", "", "--gossip-insecure", "--weight-file", file, "--weight", "2")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(string(out), "start with --weight 3 or without --weight") {
		t.Fatalf("--weight 2 against a kept 3: exit %d %v\n%s", code, err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), `"weight":3`) || !strings.Contains(string(b), `"next_weight":5`) {
		t.Fatalf("weight file after the refusal: %s %v", b, err)
	}
}

// Without --weight-file a node starts with --weight, and a weight set at
// runtime says in the log that it will not survive a restart.
func TestRuntimeWeightWithoutWeightFileWarns(t *testing.T) {
	p, c := weightNode(t, tokenFile(t, testToken, 0o600), "--weight", "2")
	if w, _ := advertised(t, c); w != 2 {
		t.Fatalf("--weight 2 advertises %d", w)
	}
	if err := c.SetWeight(context.Background(), 4, 0); err != nil {
		t.Fatal(err)
	}
	if w, _ := advertised(t, c); w != 4 {
		t.Fatalf("after POST /weight 4: %d", w)
	}
	testproc.Eventually(t, 10*time.Second, "the log says to restart with --weight 4", func() bool {
		return strings.Contains(p.Output(), "start the node with --weight 4")
	})
}

// --weight must be at least 1 and, with --weight-file, is for fleet
// nodes; a weight file kept for another node, or unreadable, is refused.
func TestWeightFlagsAndFileChecks(t *testing.T) {
	var errs strings.Builder
	for _, args := range [][]string{{"--zone", "a", "--weight", "0"}, {"--weight", "2"}, {"--weight-file", "w.json"}} {
		if _, err := parseFlags(args, &errs); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "w.json")
	f := fleetOptions{weight: 1, weightFile: file}
	if w, next, err := f.startWeights("a-1"); err != nil || w != 0 || next != 0 {
		t.Errorf("no file yet: %d %d %v, want 0 (1) and 0", w, next, err)
	}
	if err := f.weightSaver("a-1", nil)(2, 3); err != nil {
		t.Fatal(err)
	}
	if w, next, err := f.startWeights("a-1"); err != nil || w != 2 || next != 3 {
		t.Errorf("kept 2 next 3: %d %d %v", w, next, err)
	}
	if _, _, err := f.startWeights("a-2"); err == nil || !strings.Contains(err.Error(), "give each node its own file") {
		t.Errorf("another node's file: %v", err)
	}
	f.weight, f.weightSet = 5, true
	if _, _, err := f.startWeights("a-1"); !errors.Is(err, ErrWeightChanged) {
		t.Errorf("--weight 5 against a kept 2: %v, want ErrWeightChanged", err)
	}
	if err := os.WriteFile(file, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.startWeights("a-1"); err == nil {
		t.Error("a broken weight file was accepted")
	}
}
