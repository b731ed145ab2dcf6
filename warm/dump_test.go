package warm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testcert"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"os"
	"path/filepath"
)

func TestDumpListsEveryItemWithItsMetadata(t *testing.T) {
	addr := fakeDump(t, "key=a%20b exp=-1 la=1700000005 cas=1 fetch=no cls=1 size=60\n"+
		"key=later exp=1800000100 la=1700000009 cas=3 fetch=yes cls=1 size=4150\n"+
		"key=bad%zz exp=-1 la=1 cas=4 fetch=no cls=1 size=60\n"+
		"key=nosize exp=-1 la=bad\n"+
		"END\r\n")
	var got []Item
	bad, err := Dump(context.Background(), addr, nodeclient.Config{DialTimeout: time.Second}, func(it Item) { got = append(got, it) })
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{Key: "a b", Exp: -1, LastAccess: 1700000005, Size: 60}, {Key: "later", Exp: 1800000100, LastAccess: 1700000009, Size: 4150}}
	if fmt.Sprint(got) != fmt.Sprint(want) || bad != 2 {
		t.Fatalf("got %v and %d malformed, want %v and 2", got, bad, want)
	}
}

// TestCopyCheckedUndoesACopyThatOutlivedADelete copies items between two
// stock memcached nodes: one as is, one deleted by a client from both
// nodes between the copy's read and its check (the copy must not bring it
// back), one whose value a client changed on both (the changed value is
// dropped from the destination: a miss, never the old value).
func TestCopyCheckedUndoesACopyThatOutlivedADelete(t *testing.T) {
	ctx := context.Background()
	src := nodeclient.NewNode(testproc.StartMemcached(t).Addr, nodeclient.Config{})
	defer src.Close()
	dst := nodeclient.NewNode(testproc.StartMemcached(t).Addr, nodeclient.Config{})
	defer dst.Close()
	for _, k := range []string{"kept", "deleted", "changed"} {
		if err := src.Online().Set(ctx, nodeclient.Item{Key: k, Value: []byte("old")}); err != nil {
			t.Fatal(err)
		}
	}
	client := map[string]func(){
		"deleted": func() { _ = src.Online().Delete(ctx, "deleted"); _ = dst.Online().Delete(ctx, "deleted") },
		"changed": func() {
			for _, n := range []*nodeclient.Node{src, dst} {
				_ = n.Online().Set(ctx, nodeclient.Item{Key: "changed", Value: []byte("new")})
			}
		},
	}
	for k, want := range map[string]CopyResult{"kept": Copied, "deleted": Gone, "changed": Gone} {
		res, err := copyChecked(ctx, src.Batch(), dst.Batch(), Item{Key: k, Exp: -1}, client[k])
		if res != want || err != nil {
			t.Fatalf("%s: %v %v, want %v", k, res, err, want)
		}
		it, err := dst.Online().Get(ctx, k)
		if gotOld := err == nil && string(it.Value) == "old"; gotOld != (k == "kept") {
			t.Fatalf("%s on the destination: %q %v", k, it.Value, err)
		}
	}
}

// TestDumpOverMutualTLS: Dump and CheckAnswering connect with the node
// config's TLS, client certificate included.
func TestDumpOverMutualTLS(t *testing.T) {
	certs := testcert.New(t)
	p := testproc.StartZonecached(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-client-ca", certs.CAFile)
	dial := nodeclient.Config{TLS: certs.ClientTLS(true), DialTimeout: 10 * time.Second}
	n := nodeclient.NewNode(p.Addr, nodeclient.Config{TLS: dial.TLS, DialTimeout: dial.DialTimeout, Online: nodeclient.PoolConfig{Timeout: 10 * time.Second}})
	defer n.Close()
	if err := n.Online().Set(context.Background(), nodeclient.Item{Key: "tls-key", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := Dump(context.Background(), p.Addr, dial, func(it Item) { got = append(got, it.Key) }); err != nil || len(got) != 1 || got[0] != "tls-key" {
		t.Fatalf("dump over TLS: %v, %v", got, err)
	}
	node := []replication.Node{{ID: "a-1", Zone: "a", Addr: p.Addr}}
	if err := CheckAnswering(context.Background(), node, dial); err != nil {
		t.Fatalf("version over TLS: %v", err)
	}
	if err := CheckAnswering(context.Background(), node, nodeclient.Config{DialTimeout: 10 * time.Second}); err == nil {
		t.Fatal("plain TCP to a TLS node answered")
	}
}

// Dump authenticates to a node that requires it (zonecached
// --auth-file), and fails without credentials; CheckAnswering counts such
// a node as answering.
func TestDumpAuthenticates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(path, []byte("alice:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testproc.StartZonecached(t, "--auth-file", path)
	auth := &nodeclient.Credentials{Username: "alice", Password: "secret"}
	ctx := context.Background()
	n := nodeclient.NewNode(p.Addr, nodeclient.Config{Auth: auth})
	defer n.Close()
	if err := n.Online().Set(ctx, nodeclient.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if _, err := Dump(ctx, p.Addr, nodeclient.Config{DialTimeout: 10 * time.Second, Auth: auth}, func(it Item) { keys = append(keys, it.Key) }); err != nil || len(keys) != 1 || keys[0] != "k" {
		t.Fatalf("Dump with credentials: %v, %v", keys, err)
	}
	if _, err := Dump(ctx, p.Addr, nodeclient.Config{DialTimeout: 10 * time.Second}, func(Item) {}); err == nil {
		t.Fatal("Dump without credentials succeeded")
	}
	if err := CheckAnswering(ctx, []replication.Node{{ID: "n", Addr: p.Addr}}, nodeclient.Config{DialTimeout: 10 * time.Second}); err != nil {
		t.Fatalf("CheckAnswering: %v", err)
	}
}
