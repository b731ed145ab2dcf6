package consistency

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/fleet"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
)

// rawSet stores value under key on one node directly (deletes the key
// when value is nil), behind the client's back, as a bug that let an old
// write land would.
func rawSet(t *testing.T, addr, key string, value []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	cmd := fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", key, len(value), value)
	if value == nil {
		cmd = fmt.Sprintf("delete %s\r\n", key)
	}
	if _, err := c.Write([]byte(cmd)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
}

// TestCheckerCatchesStaleAndLostValuesPlantedInARealFleet writes through
// the smart client to real memcached nodes, then plants an old version on
// zone c's replica and deletes another key from every replica behind the
// client's back: the reads and the verify reads must show one stale read
// and one lost write, and nothing else.
func TestCheckerCatchesStaleAndLostValuesPlantedInARealFleet(t *testing.T) {
	f, err := fleet.Start(context.Background(), fleet.Config{Binary: testproc.RequireMemcached(t), Memcached: true, NodesPerZone: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	// Policy all: every replica has answered when a write returns, so no
	// background write lands after the planting.
	newClient := func(zone string) *client.Client {
		c, err := client.New(client.Config{Zone: zone, Topology: f.Topology(), WritePolicy: replication.All,
			DisableFallbackOnMiss: true, DisableReadRepair: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	w := newClient("a")
	h := NewHistory()
	ctx := context.Background()
	for _, key := range []string{"stale", "lost", "fine"} {
		for v := uint64(1); v <= 2; v++ {
			h.Issue(Write{Key: key, Version: v, Op: OpSet, Start: time.Now()})
			if _, err := w.Set(ctx, client.Item{Key: key, Value: EncodeValue(key, v)}); err != nil {
				t.Fatal(err)
			}
			h.Acknowledge(key, v, time.Now())
		}
	}
	rawSet(t, f.Zone("c")[0].Addr, "stale", EncodeValue("stale", 1))
	for _, n := range f.Nodes() {
		rawSet(t, n.Addr, "lost", nil)
	}
	h.MarkPhase(PhaseVerify, time.Now())
	for _, z := range Zones {
		c := newClient(z)
		for _, key := range []string{"stale", "lost", "fine"} {
			ReadOnce(c, z, key, 5*time.Second, h, "")
		}
	}
	res := Check(h, CheckConfig{})
	if res.Stale != 1 || res.StaleByZone["c"] != 1 || res.OldestVersions != 1 {
		t.Errorf("stale = %d by zone %v, oldest %d versions; want 1 in zone c, 1 version", res.Stale, res.StaleByZone, res.OldestVersions)
	}
	if res.Lost != 1 || len(res.LostKeys) != 1 || res.LostKeys[0] != "lost" {
		t.Errorf("lost = %d %v, want [lost]", res.Lost, res.LostKeys)
	}
	if res.Errors != 0 || res.VerifyReads != 9 {
		t.Errorf("errors = %d, verify reads = %d; want 0 and 9", res.Errors, res.VerifyReads)
	}
}
