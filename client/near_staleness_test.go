package client

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// nearWriterEnv carries the writer process's topology (id=zone=addr,...).
const nearWriterEnv = "ZC_NEAR_WRITER"

// TestNearCacheWriterProcess is the writer of TestNearCacheStalenessBound
// when run as its child process; otherwise it is skipped. It writes
// "<key>:<seq>" values to 20 keys, zipf-chosen, under write policy all,
// and prints "key seq ack-unix-nanos" after each acknowledgement.
func TestNearCacheWriterProcess(t *testing.T) {
	spec := os.Getenv(nearWriterEnv)
	if spec == "" {
		t.Skip("the writer process of TestNearCacheStalenessBound")
	}
	topo := replication.Topology{Epoch: 1}
	for _, n := range strings.Split(spec, ",") {
		f := strings.SplitN(n, "=", 3)
		topo.Nodes = append(topo.Nodes, replication.Node{ID: f[0], Zone: f[1], Addr: f[2]})
	}
	c := newTestClient(t, topo, "b", allPolicy)
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.01, 1, 19)
	seq := map[string]int{}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		key := fmt.Sprintf("st-%d", zipf.Uint64())
		seq[key]++
		if _, err := c.Set(context.Background(), Item{Key: key, Value: []byte(strconv.Itoa(seq[key]))}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(out, "ack %s %d %d\n", key, seq[key], time.Now().UnixNano())
		time.Sleep(2 * time.Millisecond)
	}
}

// TestNearCacheStalenessBound measures the near cache's staleness bound
// under a zipf load with a writer in another process: a read is stale by
// how long before it began a newer write of its key had been acknowledged
// (by every replica: the writer's policy is all). The bound is the near
// TTL; the measured maximum and hit ratio are logged, and the maximum
// must stay within the TTL plus 50 ms of measurement slack.
func TestNearCacheStalenessBound(t *testing.T) {
	f := startFleet(t, "zonecached", []string{"a", "b"}, 1)
	const ttl = 200 * time.Millisecond
	c := newTestClient(t, f.topo, "a", nearOn(ttl))
	for i := range 20 {
		if _, err := c.Set(testCtx(t), Item{Key: fmt.Sprintf("st-%d", i), Value: []byte("0")}); err != nil {
			t.Fatal(err)
		}
	}
	var spec []string
	for _, n := range f.topo.Nodes {
		spec = append(spec, n.ID+"="+n.Zone+"="+n.Addr)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNearCacheWriterProcess$", "-test.v")
	cmd.Env = append(os.Environ(), nearWriterEnv+"="+strings.Join(spec, ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := make(chan map[string][]int64, 1)
	go func() { acks <- readAcks(stdout) }()
	type read struct {
		key string
		seq int
		at  int64
	}
	var reads []read
	zipf := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.01, 1, 19)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		key := fmt.Sprintf("st-%d", zipf.Uint64())
		at := time.Now().UnixNano()
		it, err := c.Get(context.Background(), key)
		if err != nil {
			t.Fatalf("Get %s: %v", key, err)
		}
		n, _ := strconv.Atoi(string(it.Value))
		reads = append(reads, read{key, n, at})
	}
	ack := <-acks
	if err := cmd.Wait(); err != nil {
		t.Fatalf("writer process: %v", err)
	}
	var stale []time.Duration
	for _, r := range reads {
		// The next write of the key after the one read, if acknowledged
		// before the read began, makes the read stale since then.
		if times := ack[r.key]; r.seq < len(times) && times[r.seq] < r.at {
			stale = append(stale, time.Duration(r.at-times[r.seq]))
		}
	}
	if len(ack) == 0 {
		t.Fatal("the writer process acknowledged no write")
	}
	worst := time.Duration(0)
	if len(stale) > 0 {
		worst = slices.Max(stale)
	}
	hits := nearCount(c, nearHit) + nearCount(c, nearRevalidated)
	t.Logf("near TTL %v: %d reads, %d stale, max staleness %v; near hit ratio %.2f", ttl, len(reads), len(stale), worst, hits/float64(len(reads)))
	if worst > ttl+50*time.Millisecond {
		t.Fatalf("a read was stale by %v, beyond the near TTL %v", worst, ttl)
	}
}

// readAcks parses the writer's "ack key seq nanos" lines into each key's
// acknowledgement times by sequence number - 1.
func readAcks(r interface{ Read([]byte) (int, error) }) map[string][]int64 {
	out := map[string][]int64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue
		}
		at, _ := strconv.ParseInt(f[3], 10, 64)
		out[f[1]] = append(out[f[1]], at)
	}
	return out
}
