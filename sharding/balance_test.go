package sharding

import (
	"fmt"
	"strconv"
	"testing"
)

const balanceKeys = 1_000_000

// equalNodes returns n nodes "node-<i>" of weight 1.
func equalNodes(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{ID: fmt.Sprintf("node-%d", i), Addr: fmt.Sprintf("10.0.0.%d:11211", i+1)}
	}
	return nodes
}

// placeAll returns the owner ID of each of balanceKeys keys "key-<i>".
func placeAll(t testing.TB, r *Ring) []string {
	t.Helper()
	owners := make([]string, balanceKeys)
	buf := make([]byte, 0, 32)
	for i := range owners {
		buf = strconv.AppendInt(append(buf[:0], "key-"...), int64(i), 10)
		idx := r.Index(buf)
		if idx < 0 {
			t.Fatalf("key %q: no node", buf)
		}
		owners[i] = r.Node(idx).ID
	}
	return owners
}

func mustNew(t testing.TB, nodes []Node, cfg Config) *Ring {
	t.Helper()
	r, err := New(nodes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// movementConfigs are the configurations whose movement guarantees are tested.
var movementConfigs = []Config{{}, {Probes: 1}, {Probes: 4}, {Mode: HashKetama}}

// TestBalance checks the bound for 10 equal nodes with 160 points:
// the most loaded node holds at most 1.15x the mean of 1,000,000 keys. A
// classic one-probe xxhash ring does not meet it for these IDs (1.174x; about
// a quarter of ID sets miss it, see BenchmarkPeakLoad), which is why the
// default is two probes.
func TestBalance(t *testing.T) {
	for _, mode := range []HashMode{HashXX, HashKetama} {
		t.Run(mode.String(), func(t *testing.T) {
			r := mustNew(t, equalNodes(10), Config{Mode: mode, PointsPerNode: 160})
			counts := make(map[string]int)
			for _, id := range placeAll(t, r) {
				counts[id]++
			}
			if len(counts) != 10 {
				t.Fatalf("keys on %d nodes, want 10", len(counts))
			}
			mean := float64(balanceKeys) / 10
			maxCount := 0
			for _, c := range counts {
				maxCount = max(maxCount, c)
			}
			ratio := float64(maxCount) / mean
			t.Logf("%s: most loaded node holds %.3f x the mean (%v)", mode, ratio, counts)
			if ratio > 1.15 {
				t.Errorf("most loaded node holds %.3f x the mean, want <= 1.15", ratio)
			}
		})
	}
}

func TestMovementOnAdd(t *testing.T) {
	for _, cfg := range movementConfigs {
		mode := cfg.Mode
		t.Run(fmt.Sprintf("%s/probes=%d", mode, cfg.Probes), func(t *testing.T) {
			nodes := equalNodes(11)
			before := placeAll(t, mustNew(t, nodes[:10], cfg))
			after := placeAll(t, mustNew(t, nodes, cfg))
			newID := nodes[10].ID
			moved := 0
			for i := range before {
				if before[i] == after[i] {
					continue
				}
				moved++
				if after[i] != newID {
					t.Fatalf("key-%d moved from %s to %s, not to the new node %s", i, before[i], after[i], newID)
				}
			}
			ideal := float64(balanceKeys) / 11
			ratio := float64(moved) / ideal
			t.Logf("%s: %d keys moved, %.3f x 1/11", mode, moved, ratio)
			if ratio < 0.8 || ratio > 1.2 {
				t.Errorf("%d keys moved = %.3f x 1/11 of the keys, want 0.8..1.2", moved, ratio)
			}
		})
	}
}

func TestMovementOnRemove(t *testing.T) {
	for _, cfg := range movementConfigs {
		t.Run(fmt.Sprintf("%s/probes=%d", cfg.Mode, cfg.Probes), func(t *testing.T) {
			nodes := equalNodes(10)
			removed := nodes[3].ID
			rest := append(append([]Node(nil), nodes[:3]...), nodes[4:]...)
			before := placeAll(t, mustNew(t, nodes, cfg))
			after := placeAll(t, mustNew(t, rest, cfg))
			moved, owned := 0, 0
			for i := range before {
				if before[i] == removed {
					owned++
				}
				if before[i] == after[i] {
					continue
				}
				moved++
				if before[i] != removed {
					t.Fatalf("key-%d moved from %s to %s, but only %s was removed", i, before[i], after[i], removed)
				}
			}
			if moved != owned || owned == 0 {
				t.Errorf("moved %d keys, the removed node owned %d", moved, owned)
			}
		})
	}
}
