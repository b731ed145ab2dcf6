package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// ownershipKeys is how many keys the ownership tests write; about a third
// of them move to the node that joins zone a.
const ownershipKeys = 300

// purgeArgs are the zonecached flags of an ownership test: the purge on or
// off (the control run, which shows the test can fail), with a short
// window.
func purgeArgs(on bool, extra ...string) []string {
	return append([]string{fmt.Sprintf("--purge-unowned=%t", on), "--purge-window", "3s"}, extra...)
}

// versionedWrite sets every key of keys to version v through c; the value
// is "v<version>", so a read tells which write it saw.
func versionedWrite(t *testing.T, c *client.Client, keys []string, v int) {
	t.Helper()
	for _, k := range keys {
		if _, err := c.Set(context.Background(), client.Item{Key: k, Value: fmt.Appendf(nil, "v%d", v)}); err != nil {
			t.Fatalf("set %s to version %d: %v", k, v, err)
		}
	}
}

// readOld reads every key of keys through c and directly from each node of
// zone a, and returns how many of the client's reads, and of the nodes'
// copies, hold a version older than want. A miss is not old, nor is a
// tombstone (an empty value: a writer's repair of a write that failed).
func readOld(t *testing.T, c *client.Client, zoneA []*fleet.Node, keys []string, want int) (viaClient, onNodes int) {
	t.Helper()
	cur := fmt.Sprintf("v%d", want)
	for _, k := range keys {
		it, err := c.Get(context.Background(), k)
		switch {
		case errors.Is(err, client.ErrCacheMiss):
		case err != nil:
			t.Fatalf("get %s: %v", k, err)
		case string(it.Value) != cur:
			viaClient++
		}
		for _, n := range zoneA {
			if v, ok := rawGetOne(t, n.Addr, k); ok && v != "" && v != cur {
				onNodes++
			}
		}
	}
	return viaClient, onNodes
}

// rawGetOne reads key from the node at addr directly (text get), so what
// the node itself holds is seen, not what a client's fallback finds.
func rawGetOne(t *testing.T, addr, key string) (string, bool) {
	t.Helper()
	got, err := rawGet(addr, []string{key})
	if err != nil {
		t.Fatalf("get %s from %s: %v", key, addr, err)
	}
	v, ok := got[key]
	return v, ok
}

// movedTo returns the keys that node id serves in zone a of c's topology.
func movedTo(t *testing.T, c *client.Client, id string) []string {
	t.Helper()
	p, err := replication.NewPlacement(c.Topology(), sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range ownershipKeys {
		if n, ok := p.Zone("a").ReadOwner(key(i)); ok && n.ID == id {
			out = append(out, key(i))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no key moved to %s", id)
	}
	return out
}

func allKeys() []string {
	out := make([]string, ownershipKeys)
	for i := range out {
		out[i] = key(i)
	}
	return out
}

// ownershipCases run the ownership scenarios with the servers' purge, with
// the writer's former-owner deletes alone, and with neither (the control,
// which must read an old value).
type ownershipCase struct {
	name                 string
	purge, formerDeletes bool
}

var ownershipCases = []ownershipCase{
	{"purge=true", true, false},
	{"purge=false,former-owner-deletes", false, true},
	{"purge=false", false, false},
}

// client returns the scenario's client: purgeOnlyClient unless the case
// has the writer's former-owner deletes.
func (tc ownershipCase) client(t *testing.T, f *fleet.Fleet, wantNodes int) *client.Client {
	if tc.formerDeletes {
		return discoveredClient(t, f, wantNodes)
	}
	return purgeOnlyClient(t, f, wantNodes)
}

// purgeOnlyClient is discoveredClient without the client's former-owner
// deletes (client.Config.FormerOwnerWindow), which cover these scenarios
// from the writer's side: the tests show the servers' purge on its own,
// as for writers without them (a client with the window off, an older
// one) and keys they write.
func purgeOnlyClient(t *testing.T, f *fleet.Fleet, wantNodes int) *client.Client {
	t.Helper()
	return watchingClientWith(t, f.AdminAddrs(), wantNodes, client.Config{FormerOwnerWindow: -1})
}

// setState changes a node's state through its admin endpoint, as
// "zonecache promote" does.
func setState(t *testing.T, n *fleet.Node, to replication.NodeState) {
	t.Helper()
	if _, err := n.Admin().SetState(context.Background(), to); err != nil {
		t.Fatalf("%s to %s: %v", n.ID, to, err)
	}
}

// survivorsSee waits until every node of nodes has id in state (any state
// when empty; absent when gone) in its own gossip view: a node that never
// sees a state cannot act on it (the README's residual gossip lag), and
// the tests do not measure that lag.
func survivorsSee(t *testing.T, nodes []*fleet.Node, id string, state replication.NodeState, gone bool) {
	t.Helper()
	for _, n := range nodes {
		testproc.Eventually(t, 60*time.Second, n.ID+" sees "+id+" "+string(state), func() bool {
			top, err := discovery.Fetch(context.Background(), discovery.Config{Seeds: []string{n.AdminAddr}, Logger: quiet()})
			if err != nil {
				return false
			}
			node, ok := top.Node(id)
			if gone {
				return !ok
			}
			return ok && (state == "" || node.EffectiveState() == state)
		})
	}
}

// TestJoinUpdateDrainServesNoOldValue is issue 10's scenario: a node joins
// zone a (warming, then serving), the keys it now owns are updated (the
// writes reach only it in zone a), then it is drained and leaves. The
// previous owners must not serve their copies from before the join, with
// the servers' purge or with the writer's former-owner deletes alone. The
// control run, with neither, shows they do.
func TestJoinUpdateDrainServesNoOldValue(t *testing.T) {
	for _, tc := range ownershipCases {
		purge := tc.purge
		t.Run(tc.name, func(t *testing.T) {
			f := gossipFleet(t, purgeArgs(purge)...)
			c := tc.client(t, f, 6)
			versionedWrite(t, c, allKeys(), 1)

			a3, err := f.Add(context.Background(), "a", "a-3", "--state", "warming")
			if err != nil {
				t.Fatal(err)
			}
			testproc.Eventually(t, 30*time.Second, "a-3 warming in the client's topology", func() bool { return hasNode(c, "a-3", replication.Warming) })
			setState(t, a3, replication.Serving)
			testproc.Eventually(t, 30*time.Second, "a-3 serving in the client's topology", func() bool { return hasNode(c, "a-3", replication.Serving) })
			survivorsSee(t, f.Zone("a")[:2], "a-3", replication.Serving, false)
			moved := movedTo(t, c, "a-3")
			versionedWrite(t, c, moved, 2)

			if err := a3.Terminate(30 * time.Second); err != nil { // drains, then leaves
				t.Fatal(err)
			}
			testproc.Eventually(t, 30*time.Second, "a-3 gone from the client's topology", func() bool { return !hasNode(c, "a-3", "") })
			viaClient, onNodes := readOld(t, c, f.Zone("a")[:2], moved, 2)
			t.Logf("%s: %d keys moved to a-3 and back; %d reads and %d zone-a copies older than the last write",
				tc.name, len(moved), viaClient, onNodes)
			if (purge || tc.formerDeletes) && viaClient+onNodes != 0 {
				t.Fatalf("%d of %d reads, and %d copies in zone a, hold the version from before the join", viaClient, len(moved), onNodes)
			}
			if !purge && !tc.formerDeletes && viaClient == 0 {
				t.Fatal("control: without the purge no old value was read; the scenario does not reproduce the issue")
			}
		})
	}
}

// TestFailureAndReturnServesNoOldValue: a-3 serves, fails (frozen until
// the fleet drops it), its keys are updated on the survivors, it returns,
// the keys are updated again (on it only, in zone a), and it dies for
// good. The survivors must not serve the updates they took while it was
// away: those are older than the last write. Cases as in
// TestJoinUpdateDrainServesNoOldValue.
func TestFailureAndReturnServesNoOldValue(t *testing.T) {
	for _, tc := range ownershipCases {
		purge := tc.purge
		t.Run(tc.name, func(t *testing.T) {
			f := gossipFleet(t, purgeArgs(purge, "--gossip-probe-interval", "300ms")...)
			a3, err := f.Add(context.Background(), "a", "a-3")
			if err != nil {
				t.Fatal(err)
			}
			c := tc.client(t, f, 7)
			moved := movedTo(t, c, "a-3")
			versionedWrite(t, c, moved, 1)

			if err := a3.Freeze(); err != nil {
				t.Fatal(err)
			}
			testproc.Eventually(t, 60*time.Second, "frozen a-3 dropped from the client's topology", func() bool { return !hasNode(c, "a-3", "") })
			survivorsSee(t, f.Zone("a")[:2], "a-3", "", true)
			versionedWrite(t, c, moved, 2) // on a-1 and a-2 in zone a
			if err := a3.Thaw(); err != nil {
				t.Fatal(err)
			}
			testproc.Eventually(t, 60*time.Second, "a-3 back in the client's topology", func() bool { return hasNode(c, "a-3", replication.Serving) })
			survivorsSee(t, f.Zone("a")[:2], "a-3", replication.Serving, false)
			versionedWrite(t, c, moved, 3) // on a-3 only in zone a
			a3.Kill()
			testproc.Eventually(t, 60*time.Second, "killed a-3 dropped from the client's topology", func() bool { return !hasNode(c, "a-3", "") })

			viaClient, onNodes := readOld(t, c, f.Zone("a")[:2], moved, 3)
			t.Logf("%s: %d keys of a-3; %d reads and %d zone-a copies older than the last write", tc.name, len(moved), viaClient, onNodes)
			if (purge || tc.formerDeletes) && viaClient+onNodes != 0 {
				t.Fatalf("%d of %d reads, and %d copies in zone a, hold a version written while a-3 was away", viaClient, len(moved), onNodes)
			}
			if !purge && !tc.formerDeletes && viaClient == 0 {
				t.Fatal("control: without the purge no old value was read; the scenario does not reproduce the issue")
			}
		})
	}
}
