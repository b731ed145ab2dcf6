package discovery

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// Fetch takes the largest view: a seed alone on its side of a partition
// (here a member that never joined) is listed first, yet the client
// bootstraps from the majority's view, also when a seed never answers
// (Fetch then waits for RequestTimeout).
func TestFetchChoosesTheMajorityView(t *testing.T) {
	_, lone := member(t, "a1", "a")
	b, srvB := member(t, "b1", "b")
	join := b.GossipAddr()
	member(t, "c1", "c", join)
	d, srvD := member(t, "d1", "a", join)
	testproc.Eventually(t, 20*time.Second, "the majority has gossiped", func() bool {
		return len(b.Topology().Nodes) == 3 && len(d.Topology().Nodes) == 3
	})

	hung, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	for _, seeds := range [][]string{
		{lone.URL, srvB.URL},
		{srvD.URL, lone.URL},
		{lone.URL, deadAddr(t), hung.Addr().String(), srvD.URL},
	} {
		start := time.Now()
		top, err := Fetch(context.Background(), Config{Seeds: seeds, RequestTimeout: 2 * time.Second, Logger: quiet()})
		if err != nil {
			t.Fatalf("seeds %v: %v", seeds, err)
		}
		if got := names(top); got != "b1,c1,d1" {
			t.Errorf("seeds %v: fetched %s, want the majority's b1,c1,d1", seeds, got)
		}
		t.Logf("seeds %v: %v", seeds, time.Since(start).Round(time.Millisecond))
	}
	// With only the lone seed answering, its view is all there is.
	top, err := Fetch(context.Background(), Config{Seeds: []string{deadAddr(t), lone.URL}, Logger: quiet()})
	if err != nil || names(top) != "a1" {
		t.Fatalf("lone seed only: %s, %v", names(top), err)
	}
}
