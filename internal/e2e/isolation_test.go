package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
)

// Two fleets on one machine that differ in cluster label, or in gossip
// key, do not merge: a node of one started with --join naming a member of
// each joins only its own, and every node's /topology lists only its own
// fleet.
func TestFleetsWithDifferentLabelsOrKeysDoNotMerge(t *testing.T) {
	dir := t.TempDir()
	keyFile := func(name, key string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name       string
		ours, them []string // extra arguments of each fleet's nodes
	}{
		{"labels", []string{"--cluster-label", "green"}, []string{"--cluster-label", "blue"}},
		{"keys", []string{"--gossip-key-file", keyFile("k1", strings.Repeat("1", 16))},
			[]string{"--gossip-key-file", keyFile("k2", strings.Repeat("2", 16))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			other := smallFleet(t, "127.0.0.2", "o", c.them)
			own := smallFleet(t, "127.0.0.3", "m", c.ours)
			listsOnly(t, other, "o-1,o-2")
			listsOnly(t, own, "m-1,m-2")

			// Join both: the member of the other fleet refuses, the own
			// one accepts, so the node starts.
			join := other.Nodes()[0].GossipAddr + "," + own.Nodes()[0].GossipAddr
			if _, err := own.Add(context.Background(), "m", "m-3", "--join", join); err != nil {
				t.Fatal(err)
			}
			listsOnly(t, own, "m-1,m-2,m-3")
			listsOnly(t, other, "o-1,o-2")
		})
	}
}

// smallFleet starts 2 gossiping nodes of zone on host with extra args.
func smallFleet(t *testing.T, host, zone string, args []string) *fleet.Fleet {
	t.Helper()
	return startFleet(t, fleet.Config{Binary: testproc.ZonecachedBinary(t), Gossip: true, Host: host,
		Zones: []string{zone}, Args: args})
}

// listsOnly waits until every node of f answers /topology with exactly
// the nodes want (ids in order, comma-separated).
func listsOnly(t *testing.T, f *fleet.Fleet, want string) {
	t.Helper()
	for _, n := range f.Nodes() {
		var got string
		testproc.Eventually(t, 20*time.Second, n.ID+"'s /topology lists "+want, func() bool {
			top, err := discovery.Fetch(context.Background(), discovery.Config{Seeds: []string{n.AdminAddr}, Logger: quiet()})
			if err != nil {
				got = err.Error()
				return false
			}
			ids := make([]string, len(top.Nodes))
			for i, tn := range top.Nodes {
				ids[i] = tn.ID
			}
			got = strings.Join(ids, ",")
			return got == want
		})
		t.Logf("%s lists %s", n.ID, got)
	}
}
