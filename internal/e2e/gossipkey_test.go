package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/membership"
)

// TestFleetNodeGossipKeyRequired: a fleet node without a gossip key, or
// with a key file others can read, refuses to start and says why;
// --gossip-insecure starts it.
func TestFleetNodeGossipKeyRequired(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte("0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	bin := testproc.ZonecachedBinary(t)
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"no key":   {nil, "a fleet node needs --gossip-key-file (or --gossip-insecure"},
		"mode 644": {[]string{"--gossip-key-file", open}, "mode 0644: membership: gossip key file accessible by group or others (chmod 600 it)"},
	} {
		port := strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
		cmd := exec.Command(bin, append([]string{"--zone", "a", "-l", "127.0.0.1", "-p", port, "--admin-addr", "", "--gossip-addr", "127.0.0.1:0"}, c.args...)...)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("%s: still running after 30 s:\n%s", name, out)
		}
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: exit %v, output:\n%s\nwant a failure saying %q", name, err, out, c.want)
		}
	}
	p := testproc.StartZonecached(t, "--zone", "a", "--gossip-addr", "127.0.0.1:0", "--gossip-insecure")
	testproc.Eventually(t, 10*time.Second, "the insecure node's warning", func() bool {
		return strings.Contains(p.Output(), "gossip is not encrypted (--gossip-insecure)")
	})
}

// TestGossipKeyRotation rotates a fleet's gossip key with the CLI (install
// the new key everywhere, use it, remove the old one) while the fleet
// runs, then checks that a node with the new key still joins and one with
// the old key no longer does.
func TestGossipKeyRotation(t *testing.T) {
	f := startFleet(t, fleet.Config{Binary: testproc.ZonecachedBinary(t), Gossip: true, Zones: []string{"a", "b"}, NodesPerZone: 1})
	waitMembers(t, f.Nodes(), "a-1", "b-1")
	oldKey, err := membership.ReadKeyFile(f.GossipKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	newKey := make([]byte, 32)
	_, _ = rand.Read(newKey)
	newFile := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newFile, []byte(base64.StdEncoding.EncodeToString(newKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	oldID, newID := membership.KeyID(oldKey), membership.KeyID(newKey)
	admins := strings.Join(f.AdminAddrs(), ",")
	cli := testproc.Binary(t, "zonecache")
	gossipKey := func(op, keyFile string) (string, error) {
		args := []string{"gossip-key", op, "--admin", admins, "--admin-token-file", f.AdminTokenFile()}
		if keyFile != "" {
			args = append(args, "--key-file", keyFile)
		}
		out, err := exec.Command(cli, args...).CombinedOutput()
		return string(out), err
	}
	step := func(op, keyFile, primary string, keys ...string) {
		t.Helper()
		if out, err := gossipKey(op, keyFile); err != nil {
			t.Fatalf("gossip-key %s: %v\n%s", op, err, out)
		}
		for _, n := range f.Nodes() {
			kr, err := n.Admin().GossipKeys(context.Background())
			slices.Sort(kr.Keys)
			slices.Sort(keys)
			if err != nil || kr.Primary != primary || !slices.Equal(kr.Keys, keys) {
				t.Fatalf("after %s, %s's keyring %+v (%v); want primary %s, keys %v", op, n.ID, kr, err, primary, keys)
			}
		}
	}
	step("list", "", oldID, oldID)
	step("install", newFile, oldID, oldID, newID)
	step("use", newFile, newID, oldID, newID)
	if out, err := gossipKey("remove", newFile); err == nil || !strings.Contains(out, "cannot be removed") {
		t.Fatalf("removing the key in use: %v\n%s", err, out)
	}
	step("remove", f.GossipKeyFile(), newID, newID)

	// Gossip still carries membership changes: a node with the new key
	// joins, one with the old key is kept out.
	if _, err := f.Add(context.Background(), "a", "a-2", "--gossip-key-file", newFile); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, f.Nodes(), "a-1", "a-2", "b-1")
	stale, err := f.Add(context.Background(), "b", "b-2") // the fleet's old key file
	if err != nil {
		t.Fatal(err)
	}
	waitMembers(t, []*fleet.Node{stale}, "b-2")
	waitMembers(t, f.Nodes()[:3], "a-1", "a-2", "b-1")
}

// waitMembers waits until each of nodes lists exactly the members want in
// its /topology.
func waitMembers(t *testing.T, nodes []*fleet.Node, want ...string) {
	t.Helper()
	for _, n := range nodes {
		var got []string
		testproc.Eventually(t, 30*time.Second, n.ID+" lists "+strings.Join(want, ","), func() bool {
			top, err := discovery.Fetch(context.Background(), discovery.Config{Seeds: []string{n.AdminAddr}, Logger: quiet()})
			if err != nil {
				return false
			}
			got = got[:0]
			for _, tn := range top.Nodes {
				got = append(got, tn.ID)
			}
			slices.Sort(got)
			return slices.Equal(got, want)
		})
	}
}
