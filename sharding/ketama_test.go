package sharding

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ketamaVector is one scenario generated from libmemcached by
// testdata/ketamaref/ketamaref.c (regenerate with testdata/ketamaref/gen.sh).
type ketamaVector struct {
	nodes []Node
	keys  []string
	want  []int
}

// loadKetamaVector reads a vector file. A server line gives the host as
// libmemcached stores it, its port and weight; the Go node is
// Node{ID: JoinHostPort(host, port), Addr: the same}, or, when the line has
// two more fields, that ID with the Addr and KetamaName they give ("-" for
// empty).
func loadKetamaVector(t *testing.T, path string) ketamaVector {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var v ketamaVector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 4096)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, "\t")
		switch fields[0] {
		case "server":
			if len(fields) != 4 && len(fields) != 6 {
				t.Fatalf("%s: bad server line %q", path, line)
			}
			w, err := strconv.Atoi(fields[3])
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			id := net.JoinHostPort(fields[1], fields[2])
			n := Node{ID: id, Addr: id, Weight: w}
			if len(fields) == 6 {
				n.Addr, n.KetamaName = strings.TrimPrefix(fields[4], "-"), strings.TrimPrefix(fields[5], "-")
			}
			v.nodes = append(v.nodes, n)
		case "key":
			if len(fields) != 3 {
				t.Fatalf("%s: bad key line %q", path, line)
			}
			idx, err := strconv.Atoi(fields[1])
			if err != nil || idx < 0 || idx >= len(v.nodes) {
				t.Fatalf("%s: bad server index in %q: %v", path, line, err)
			}
			v.keys = append(v.keys, fields[2])
			v.want = append(v.want, idx)
		default:
			t.Fatalf("%s: unknown record %q", path, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(v.nodes) == 0 || len(v.keys) == 0 {
		t.Fatalf("%s: no servers or keys", path)
	}
	return v
}

// mismatches returns how many of v's keys r places on another server than
// libmemcached did, reporting the first few through t.Errorf when report is
// set.
func (v ketamaVector) mismatches(t *testing.T, r *Ring, report bool) int {
	t.Helper()
	bad := 0
	for i, key := range v.keys {
		if got := r.IndexString(key); got != v.want[i] {
			bad++
			if report && bad <= 5 {
				t.Errorf("key %q: got node %d (%s), libmemcached %d (%s)",
					key, got, v.nodes[got].ID, v.want[i], v.nodes[v.want[i]].ID)
			}
		}
	}
	return bad
}

func TestKetamaMatchesLibmemcached(t *testing.T) {
	files, err := filepath.Glob("testdata/ketama_*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d vector files, want at least 10", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			v := loadKetamaVector(t, path)
			r, err := New(v.nodes, Config{Mode: HashKetama})
			if err != nil {
				t.Fatal(err)
			}
			if bad := v.mismatches(t, r, true); bad > 0 {
				t.Errorf("%d of %d keys differ from libmemcached", bad, len(v.keys))
			}
			seen := make(map[int]bool)
			for _, want := range v.want {
				seen[want] = true
			}
			if len(v.nodes) > 1 && len(seen) < 2 {
				t.Errorf("libmemcached put all keys on one node; the vector does not exercise placement")
			}
		})
	}
}

// TestKetamaVectorsNeedKetamaName checks that the vectors with a KetamaName
// override test it: without the overrides (each such node named from its Addr
// instead) placement differs from libmemcached's. For ipv6brackets this is
// the brackets: libmemcached keeps them in the names of servers parsed from
// "[::1]:11212", while Addr "[::1]:11212" alone gives the name "::1:11212".
func TestKetamaVectorsNeedKetamaName(t *testing.T) {
	for _, name := range []string{"ipv6brackets", "override"} {
		t.Run(name, func(t *testing.T) {
			v := loadKetamaVector(t, filepath.Join("testdata", "ketama_"+name+".txt"))
			overrides := 0
			for i, n := range v.nodes {
				if n.KetamaName != "" && n.Addr != "" {
					v.nodes[i].KetamaName = ""
					overrides++
				}
			}
			if overrides == 0 {
				t.Fatal("no node with both Addr and KetamaName")
			}
			r, err := New(v.nodes, Config{Mode: HashKetama})
			if err != nil {
				t.Fatal(err)
			}
			if bad := v.mismatches(t, r, false); bad == 0 {
				t.Errorf("placement without the %d overrides still equals libmemcached's", overrides)
			}
		})
	}
}
