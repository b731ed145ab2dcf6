package sharding

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestEmptyRing(t *testing.T) {
	for _, r := range []*Ring{nil, mustNew(t, nil, Config{}), mustNew(t, []Node{}, Config{Mode: HashKetama})} {
		if r.Len() != 0 || r.Nodes() != nil && len(r.Nodes()) != 0 {
			t.Errorf("empty ring has %d nodes", r.Len())
		}
		if i := r.IndexString("k"); i != -1 {
			t.Errorf("IndexString on empty ring = %d, want -1", i)
		}
		if i := r.Index(nil); i != -1 {
			t.Errorf("Index(nil) on empty ring = %d, want -1", i)
		}
		if n, ok := r.Lookup("k"); ok || n != (Node{}) {
			t.Errorf("Lookup on empty ring = %+v, %v", n, ok)
		}
	}
}

func TestSingleNode(t *testing.T) {
	for _, cfg := range []Config{{}, {Probes: 1}, {Mode: HashKetama}, {HashTagDelimiter: ":"}} {
		r := mustNew(t, []Node{{ID: "a", Addr: "10.0.0.1:11211"}}, cfg)
		for _, k := range []string{"", "x", "user:1", string(make([]byte, 300))} {
			n, ok := r.Lookup(k)
			if !ok || n.ID != "a" {
				t.Errorf("%+v: Lookup(%q) = %+v, %v; want a", cfg, k, n, ok)
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		name  string
		nodes []Node
		cfg   Config
		want  error
	}{
		{"empty id", []Node{{ID: ""}}, Config{}, ErrInvalidNode},
		{"negative weight", []Node{{ID: "a", Weight: -1}}, Config{}, ErrInvalidNode},
		{"duplicate id", []Node{{ID: "a"}, {ID: "b"}, {ID: "a"}}, Config{}, ErrDuplicateNode},
		{"duplicate ketama name", []Node{{ID: "a", Addr: "h:11211"}, {ID: "b", Addr: "h"}}, Config{Mode: HashKetama}, ErrDuplicateNode},
		{"duplicate ketama override", []Node{{ID: "a", KetamaName: "x"}, {ID: "b", KetamaName: "x"}}, Config{Mode: HashKetama}, ErrDuplicateNode},
		{"ketama no addr", []Node{{ID: "a"}}, Config{Mode: HashKetama}, ErrInvalidNode},
		{"ketama bad port", []Node{{ID: "a", Addr: "h:http"}}, Config{Mode: HashKetama}, ErrInvalidNode},
		{"ketama bad addr", []Node{{ID: "a", Addr: "[::1"}}, Config{Mode: HashKetama}, ErrInvalidNode},
		{"ketama no host", []Node{{ID: "a", Addr: ":11211"}}, Config{Mode: HashKetama}, ErrInvalidNode},
		{"unknown mode", []Node{{ID: "a"}}, Config{Mode: 7}, ErrInvalidConfig},
		{"negative points", []Node{{ID: "a"}}, Config{PointsPerNode: -1}, ErrInvalidConfig},
		{"ketama points not /4", []Node{{ID: "a", Addr: "h"}}, Config{Mode: HashKetama, PointsPerNode: 10}, ErrInvalidConfig},
		{"too many probes", []Node{{ID: "a"}}, Config{Probes: 5}, ErrInvalidConfig},
		{"negative probes", []Node{{ID: "a"}}, Config{Probes: -1}, ErrInvalidConfig},
		{"ketama probes", []Node{{ID: "a", Addr: "h"}}, Config{Mode: HashKetama, Probes: 2}, ErrInvalidConfig},
		{"too many points", []Node{{ID: "a", Weight: 1 << 20}}, Config{}, ErrInvalidConfig},
		{"huge weight", []Node{{ID: "a", Weight: 1 << 40}, {ID: "b", Weight: 1 << 40}}, Config{}, ErrInvalidNode},
		{"evcache weight", []Node{{ID: "a", Addr: "10.0.0.1", Weight: 2}}, Config{Mode: HashKetamaEVCache}, ErrInvalidNode},
		{"evcache host name", []Node{{ID: "a", Addr: "cache-a:11211"}}, Config{Mode: HashKetamaEVCache}, ErrInvalidNode},
		{"evcache ipv6", []Node{{ID: "a", Addr: "[::1]:11211"}}, Config{Mode: HashKetamaEVCache}, ErrInvalidNode},
		{"evcache no addr", []Node{{ID: "a"}}, Config{Mode: HashKetamaEVCache}, ErrInvalidNode},
		{"evcache probes", []Node{{ID: "a", Addr: "10.0.0.1"}}, Config{Mode: HashKetamaEVCache, Probes: 2}, ErrInvalidConfig},
		{"evcache duplicate name", []Node{{ID: "a", Addr: "10.0.0.1:11211"}, {ID: "b", Addr: "10.0.0.1:11212"}}, Config{Mode: HashKetamaEVCache}, ErrDuplicateNode},
	}
	for _, c := range cases {
		r, err := New(c.nodes, c.cfg)
		if !errors.Is(err, c.want) || r != nil {
			t.Errorf("%s: New = %v, %v; want %v", c.name, r, err, c.want)
		}
	}
}

func TestZeroWeightIsOne(t *testing.T) {
	for _, mode := range []HashMode{HashXX, HashKetama} {
		zero := mustNew(t, []Node{{ID: "a", Addr: "h1", Weight: 0}, {ID: "b", Addr: "h2", Weight: 1}}, Config{Mode: mode})
		one := mustNew(t, []Node{{ID: "a", Addr: "h1", Weight: 1}, {ID: "b", Addr: "h2", Weight: 1}}, Config{Mode: mode})
		for i := range 1000 {
			k := fmt.Sprint("k", i)
			if zero.IndexString(k) != one.IndexString(k) {
				t.Fatalf("%s: weight 0 and weight 1 place %q differently", mode, k)
			}
		}
	}
}

func TestWeightsScaleShares(t *testing.T) {
	nodes := []Node{{ID: "a", Addr: "h1"}, {ID: "b", Addr: "h2", Weight: 3}}
	for _, mode := range []HashMode{HashXX, HashKetama} {
		r := mustNew(t, nodes, Config{Mode: mode})
		var counts [2]int
		for i := range 200_000 {
			counts[r.IndexString(fmt.Sprint("k", i))]++
		}
		ratio := float64(counts[1]) / float64(counts[0])
		if ratio < 2.4 || ratio > 3.6 {
			t.Errorf("%s: weight 3 vs 1 holds %.2f x the keys, want about 3", mode, ratio)
		}
	}
}

func TestXXPlacementIgnoresOrderAndAddr(t *testing.T) {
	a := mustNew(t, []Node{{ID: "x", Addr: "10.0.0.1:1"}, {ID: "y"}, {ID: "z"}}, Config{})
	b := mustNew(t, []Node{{ID: "z", Addr: "other"}, {ID: "x", Addr: "10.9.9.9:2"}, {ID: "y"}}, Config{})
	for i := range 10_000 {
		k := fmt.Sprint("k", i)
		na, _ := a.Lookup(k)
		nb, _ := b.Lookup(k)
		if na.ID != nb.ID {
			t.Fatalf("%q: %s in one order, %s in another", k, na.ID, nb.ID)
		}
	}
}

func TestKetamaName(t *testing.T) {
	cases := []struct {
		n    Node
		want string
	}{
		{Node{Addr: "10.0.0.1:11211"}, "10.0.0.1"},
		{Node{Addr: "10.0.0.1:11212"}, "10.0.0.1:11212"},
		{Node{Addr: "10.0.0.1"}, "10.0.0.1"},
		{Node{Addr: "cache-a"}, "cache-a"},
		{Node{Addr: "cache-a:0"}, "cache-a"},
		{Node{Addr: "[::1]:11212"}, "::1:11212"},
		{Node{Addr: "[::1]:11211"}, "::1"},
		{Node{Addr: "::1"}, "::1"},
		{Node{Addr: "h:011212"}, "h:11212"},
		{Node{Addr: "10.0.0.1:11211", KetamaName: "ip-10-0-0-1/10.0.0.1:11211"}, "ip-10-0-0-1/10.0.0.1:11211"},
	}
	for _, c := range cases {
		got, err := ketamaName(c.n)
		if err != nil || got != c.want {
			t.Errorf("ketamaName(%+v) = %q, %v; want %q", c.n, got, err, c.want)
		}
	}
}

func TestEVCacheName(t *testing.T) {
	cases := []struct {
		n    Node
		want string
	}{
		{Node{Addr: "10.0.0.1:11211"}, "10.0.0.1/10.0.0.1:11211"},
		{Node{Addr: "10.0.0.1:11443"}, "10.0.0.1/10.0.0.1:11211"}, // EVCache names port 11211 whatever port it connects to (evcache.port metadata from Eureka aside)
		{Node{Addr: "10.0.0.1"}, "10.0.0.1/10.0.0.1:11211"},
		{Node{Addr: "cache-a:11211", KetamaName: "cache-a/10.0.0.9:11211"}, "cache-a/10.0.0.9:11211"},
	}
	for _, c := range cases {
		got, err := evcacheName(c.n)
		if err != nil || got != c.want {
			t.Errorf("evcacheName(%+v) = %q, %v; want %q", c.n, got, err, c.want)
		}
	}
}

func TestKetamaNameOverride(t *testing.T) {
	// A node whose KetamaName equals the name derived from another address
	// places keys exactly like that address.
	byAddr := mustNew(t, []Node{{ID: "a", Addr: "10.0.0.1:11211"}, {ID: "b", Addr: "10.0.0.2:11300"}}, Config{Mode: HashKetama})
	byName := mustNew(t, []Node{{ID: "a", Addr: "new-a:9", KetamaName: "10.0.0.1"}, {ID: "b", Addr: "new-b:9", KetamaName: "10.0.0.2:11300"}}, Config{Mode: HashKetama})
	for i := range 5000 {
		k := fmt.Sprint("k", i)
		if byAddr.IndexString(k) != byName.IndexString(k) {
			t.Fatalf("%q placed differently with KetamaName", k)
		}
	}
}

func TestNextAgreesWithLinearScan(t *testing.T) {
	// next must return the first point at or after h, wrapping; compare with
	// a plain scan, at the ends of the circle and around every point. Few
	// points per node make crowded buckets (binary search) as well as the
	// branch-free scan.
	for _, n := range []int{1, 2, 3, 10, 57, 300} {
		for _, per := range []int{1, 7, 40} {
			r := mustNew(t, equalNodes(n), Config{PointsPerNode: per})
			pos := make([]uint32, r.n)
			for i := range pos {
				pos[i] = uint32(r.ent[i] >> 32)
			}
			probe := []uint32{0, 1, ^uint32(0), ^uint32(0) - 1}
			for _, p := range pos {
				probe = append(probe, p-1, p, p+1)
			}
			for i := range 2000 {
				probe = append(probe, uint32(i)*2654435761)
			}
			for _, h := range probe {
				want := 0
				for j, p := range pos {
					if p >= h {
						want = j
						break
					}
				}
				if got := r.next(h); got != r.ent[want] {
					t.Fatalf("n=%d per=%d next(%d) = %x, want %x", n, per, h, got, r.ent[want])
				}
			}
		}
	}
}

func TestCircleCrowdedBucket(t *testing.T) {
	// More points than scanWidth in one bucket use the binary search.
	var ent []uint64
	for _, p := range []uint64{1, 2, 3, 4, 5, 6, 1 << 31} {
		ent = append(ent, p<<32|p%3)
	}
	c := newCircle(ent)
	if got := c.bucket[1] - c.bucket[0]; got <= scanWidth {
		t.Fatalf("first bucket holds %d points, want more than %d", got, scanWidth)
	}
	for h, want := range map[uint32]uint32{0: 1, 1: 1, 3: 3, 6: 6, 7: 1 << 31, 1<<31 + 1: 1, ^uint32(0): 1} {
		if got := uint32(c.next(h) >> 32); got != want {
			t.Errorf("next(%d) = point %d, want %d", h, got, want)
		}
	}
}

func TestNodesIsACopy(t *testing.T) {
	in := []Node{{ID: "a"}, {ID: "b"}}
	r := mustNew(t, in, Config{})
	in[0].ID = "changed"
	out := r.Nodes()
	out[1].ID = "changed"
	if r.Node(0).ID != "a" || r.Node(1).ID != "b" || r.Len() != 2 {
		t.Errorf("ring nodes changed through caller slices: %+v", r.Nodes())
	}
}

func TestAtomicSwap(t *testing.T) {
	// The documented pattern: publish rings with atomic.Pointer; concurrent
	// readers always see a complete ring (run with -race).
	small := mustNew(t, equalNodes(3), Config{})
	big := mustNew(t, equalNodes(4), Config{})
	var cur atomic.Pointer[Ring]
	cur.Store(small)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				r := cur.Load()
				idx := r.IndexString(fmt.Sprint(g, "-", i))
				if idx < 0 || idx >= r.Len() {
					errs <- fmt.Errorf("index %d out of range for %d nodes", idx, r.Len())
					return
				}
			}
		}()
	}
	for i := range 200 {
		if i%2 == 0 {
			cur.Store(big)
		} else {
			cur.Store(small)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestHashModeString(t *testing.T) {
	if HashXX.String() != "xxhash" || HashKetama.String() != "ketama" || HashKetamaEVCache.String() != "ketama-evcache" || HashMode(9).String() != "HashMode(9)" {
		t.Errorf("HashMode strings: %s %s %s", HashXX, HashKetama, HashMode(9))
	}
	if (&Ring{mode: HashKetama}).Mode() != HashKetama || (*Ring)(nil).Mode() != HashXX {
		t.Error("Mode")
	}
}
