package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// TestPurgeFromTopologyFile writes every key to both memcached nodes of a
// zone, as if each had owned them all, and checks that "zonecache purge
// --topology" leaves each node exactly the keys it owns.
func TestPurgeFromTopologyFile(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"purge"}, "one of --seeds and --topology"},
		{[]string{"purge", "--seeds", "x", "--topology", "f"}, "one of --seeds and --topology"},
		{[]string{"purge", "--topology", "f", "--concurrency", "0"}, "--concurrency"},
	} {
		if rc, _, stderr := runCLI(c.args...); rc != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: rc %d stderr %q, want rc 2 and %q", c.args, rc, stderr, c.want)
		}
	}
	top := replication.Topology{Epoch: 1}
	pools := map[string]*nodeclient.Pool{}
	for _, id := range []string{"a1", "a2"} {
		p := testproc.StartMemcached(t)
		top.Nodes = append(top.Nodes, replication.Node{ID: id, Zone: "a", Addr: p.Addr})
		n := nodeclient.NewNode(p.Addr, nodeclient.Config{})
		t.Cleanup(func() { _ = n.Close() })
		pools[id] = n.Online()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var keys []string
	for i := range 200 {
		k := fmt.Sprint("cli-", i)
		keys = append(keys, k)
		for _, p := range pools {
			if err := p.Set(ctx, nodeclient.Item{Key: k, Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "topology.json")
	b, _ := json.Marshal(top)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rc, stdout, stderr := runCLI("purge", "--topology", file)
	if rc != 0 || !strings.Contains(stdout, "deleted=200") {
		t.Fatalf("purge: rc %d stdout %q stderr %q; want 200 deleted (each key from the node not owning it)", rc, stdout, stderr)
	}
	pl, _ := replication.NewPlacement(top, sharding.Config{})
	for _, k := range keys {
		owner, _ := pl.Zone("a").ReadOwner(k)
		for id, p := range pools {
			_, err := p.Get(ctx, k)
			if has := err == nil; has != (id == owner.ID) {
				t.Fatalf("%s on %s after the purge: %v (owner %s)", k, id, err, owner.ID)
			} else if err != nil && !errors.Is(err, nodeclient.ErrCacheMiss) {
				t.Fatal(err)
			}
		}
	}
}
