package admin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/membership"
	"github.com/zonecache/zonecache/replication"
)

// oneNode starts a gossiping zonecached alone in zone a, warming, and
// returns its admin client once its admin listener answers.
func oneNode(t *testing.T) *admin.Client {
	t.Helper()
	f, err := fleet.Start(context.Background(), fleet.Config{
		Binary: testproc.ZonecachedBinary(t), Zones: []string{"a"}, NodesPerZone: 1, Gossip: true, State: "warming",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	c := f.Nodes()[0].Admin() // with the fleet's admin token
	testproc.Eventually(t, 30*time.Second, "the node's admin listener answering", func() bool {
		return c.Healthy(context.Background()) == nil
	})
	return c
}

func TestClientPromotesAFleetNodeAndFollowsItsTopology(t *testing.T) {
	c := oneNode(t)
	ctx := context.Background()
	if err := c.Healthy(ctx); err != nil {
		t.Fatalf("Healthy: %v", err)
	}
	if s, err := c.State(ctx); err != nil || s != replication.Warming {
		t.Fatalf("State = %q, %v; want warming", s, err)
	}
	if err := c.Ready(ctx); !errors.Is(err, admin.ErrUnavailable) || !strings.Contains(err.Error(), "warming: serving no reads") {
		t.Fatalf("Ready of a warming node: %v; want admin.ErrUnavailable saying it serves no reads", err)
	}
	before, err := c.Topology(ctx)
	if err != nil || len(before.Nodes) != 1 || before.Nodes[0].ID != "a-1" {
		t.Fatalf("Topology = %+v, %v; want a-1 alone", before, err)
	}
	if _, err := admin.New(c.Addr).SetState(ctx, replication.Serving); !errors.Is(err, admin.ErrUnauthorized) || !errors.Is(err, admin.ErrStatus) {
		t.Fatalf("SetState without the fleet's token: %v; want admin.ErrUnauthorized", err)
	}
	if s, err := c.SetState(ctx, replication.Serving); err != nil || s != replication.Serving {
		t.Fatalf("SetState(serving) = %q, %v", s, err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready once serving: %v", err)
	}
	after, err := c.WatchTopology(ctx, before.Epoch, 20*time.Second)
	if err != nil || after.Epoch <= before.Epoch || after.Nodes[0].State != replication.Serving {
		t.Fatalf("WatchTopology after %d = %+v, %v; want a newer epoch with a-1 serving", before.Epoch, after, err)
	}
	_, err = c.SetState(ctx, "sleeping")
	if !errors.Is(err, admin.ErrStatus) || errors.Is(err, admin.ErrUnavailable) || !strings.Contains(err.Error(), "want joining") {
		t.Fatalf("SetState(sleeping): %v; want admin.ErrStatus with the node's answer", err)
	}
}

func TestStandaloneNodeHasNoFleetEndpoints(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testproc.FreePort(t, "127.0.0.1"))
	const token = "0123456789abcdef0123456789abcdef" // past the token check, the missing endpoint shows
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	testproc.StartZonecached(t, "--admin-addr", addr, "--admin-token-file", tokenFile)
	c := &admin.Client{Addr: addr, Token: token}
	testproc.Eventually(t, 30*time.Second, "the node's admin listener ready", func() bool {
		return c.Ready(context.Background()) == nil
	})
	if _, err := c.Topology(context.Background()); !errors.Is(err, admin.ErrNoEndpoint) || !errors.Is(err, admin.ErrStatus) {
		t.Fatalf("Topology of a standalone node: %v; want admin.ErrNoEndpoint", err)
	}
	if _, err := c.SetState(context.Background(), replication.Serving); !errors.Is(err, admin.ErrNoEndpoint) {
		t.Fatalf("SetState of a standalone node: %v; want admin.ErrNoEndpoint", err)
	}
}

// A member that has left the fleet answers /topology with 503.
func TestLeftMemberIsUnavailable(t *testing.T) {
	m, err := membership.Start(context.Background(), membership.Config{
		NodeName: "a1", Zone: "a", CacheAddr: "127.0.0.1:1", Profile: "local",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	srv := httptest.NewServer(m.AdminHandler(http.NotFoundHandler()))
	defer srv.Close()
	c := admin.New(srv.URL)
	if _, err := c.Topology(context.Background()); err != nil {
		t.Fatalf("Topology before leaving: %v", err)
	}
	if err := m.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Topology(context.Background()); !errors.Is(err, admin.ErrUnavailable) {
		t.Fatalf("Topology of a member that left: %v; want admin.ErrUnavailable", err)
	}
}

func TestClosedPortIsNotAStatus(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	err := admin.New(addr).Ready(context.Background())
	if err == nil || errors.Is(err, admin.ErrStatus) {
		t.Fatalf("Ready of a closed port: %v; want a connection error", err)
	}
}

func TestBadAddr(t *testing.T) {
	for _, addr := range []string{"http://", "::bad"} {
		if _, err := admin.New(addr).State(context.Background()); !errors.Is(err, admin.ErrBadAddr) {
			t.Errorf("State of %q: %v; want admin.ErrBadAddr", addr, err)
		}
	}
}
