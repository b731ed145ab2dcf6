package client

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/faultproxy"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

// These tests run a versioned writer whose path to one node, a0, goes
// through a fault proxy, and readers that reach a0 directly (their breakers
// stay closed). They count the reads that returned a version older than one
// acknowledged before the read began, once the write of that version to the
// node that answered had ended (succeeded or failed): a read while the
// write is still in flight there is the client's documented window.

// versionRun records a versioned writer's acknowledgements and attempts,
// and the readers' reads.
type versionRun struct {
	mu    sync.Mutex
	acks  map[string][]versionAck  // key -> acknowledged writes, in order
	ended map[attemptOf]attemptEnd // when a write's request to a node ended
	reads []versionRead            // every read that returned a value
}

type versionAck struct {
	v  int64
	at time.Time
}

type attemptOf struct {
	key, node string
	v         int64
}

type versionRead struct {
	key, node string
	start     time.Time
	v         int64
}

type attemptEnd struct {
	at  time.Time
	err error
}

type versionCtxKey struct{}

// readNode is where a read's hook leaves the node that answered it.
type readNode struct{ node atomic.Value }

func newVersionRun() *versionRun {
	return &versionRun{acks: map[string][]versionAck{}, ended: map[attemptOf]attemptEnd{}}
}

// writerHooks records when each versioned write's request to a node ended.
func (r *versionRun) writerHooks() Hooks {
	return Hooks{OnAttempt: func(ctx context.Context, e AttemptEvent) {
		v, ok := ctx.Value(versionCtxKey{}).(int64)
		if !ok || e.Key == "" {
			return
		}
		r.mu.Lock()
		r.ended[attemptOf{e.Key, e.Node, v}] = attemptEnd{time.Now(), e.Err}
		r.mu.Unlock()
	}}
}

// readerHooks records which node answered a read.
func readerHooks() Hooks {
	return Hooks{OnAttempt: func(ctx context.Context, e AttemptEvent) {
		if rn, ok := ctx.Value(versionCtxKey{}).(*readNode); ok && e.Err == nil {
			rn.node.Store(e.Node)
		}
	}}
}

// write sets key to version v and records the acknowledgement.
func (r *versionRun) write(c *Client, key string, v int64) error {
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), versionCtxKey{}, v), 5*time.Second)
	defer cancel()
	if _, err := c.Set(ctx, Item{Key: key, Value: []byte(strconv.FormatInt(v, 10)), TTL: time.Hour}); err != nil {
		return err
	}
	now := time.Now()
	r.mu.Lock()
	r.acks[key] = append(r.acks[key], versionAck{v, now})
	r.mu.Unlock()
	return nil
}

// read gets key and records the version and the node that answered.
func (r *versionRun) read(c *Client, key string) {
	rn := &readNode{}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), versionCtxKey{}, rn), 5*time.Second)
	defer cancel()
	start := time.Now()
	it, err := c.Get(ctx, key)
	if err != nil {
		return
	}
	v, err := strconv.ParseInt(string(it.Value), 10, 64)
	node, _ := rn.node.Load().(string)
	if err != nil || node == "" {
		return
	}
	r.mu.Lock()
	r.reads = append(r.reads, versionRead{key, node, start, v})
	r.mu.Unlock()
}

// staleRead is a read older than an acknowledged write that had ended at
// the node that answered.
type staleRead struct {
	versionRead
	newer versionAck
	write attemptEnd // the newer write's request to the node
}

// stale returns the reads older than a write acknowledged before they began
// whose request to the answering node had ended before they began.
func (r *versionRun) stale() []staleRead {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []staleRead
	for _, rd := range r.reads {
		for _, a := range r.acks[rd.key] {
			if a.v <= rd.v || !a.at.Before(rd.start) {
				continue
			}
			if end, ok := r.ended[attemptOf{rd.key, rd.node, a.v}]; ok && end.at.Before(rd.start) {
				out = append(out, staleRead{rd, a, end})
				break
			}
		}
	}
	return out
}

// describe summarises stale reads for a failure message.
func describe(st []staleRead) string {
	if len(st) == 0 {
		return "none"
	}
	causes := map[string]int{}
	for _, s := range st {
		causes[fmt.Sprint(s.write.err)]++
	}
	s := st[0]
	return fmt.Sprintf("by the newer write's outcome there %v; ", causes) + fmt.Sprintf("%d, the first: %s read version %d from %s, %v after version %d was acknowledged (its request there: %v)",
		len(st), s.key, s.v, s.node, s.start.Sub(s.newer.at).Round(time.Millisecond), s.newer.v, s.write.err)
}

// slowPathRig is a fleet of one node per zone, a writer of zone a whose
// path to a0 goes through a fault proxy, and readers of zone a that reach
// a0 directly.
type slowPathRig struct {
	f       *fleet
	proxy   *faultproxy.Proxy
	writer  *Client
	readers []*Client
	run     *versionRun
	keys    []string
}

func newSlowPathRig(t *testing.T, server string, editWriter func(*Config)) *slowPathRig {
	f := startFleet(t, server, []string{"a", "b", "c"}, 1)
	proxy, err := faultproxy.New(f.topo.Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	wtopo := f.topo
	wtopo.Nodes = append([]replication.Node(nil), f.topo.Nodes...)
	wtopo.Nodes[0].Addr = proxy.Addr()
	rig := &slowPathRig{f: f, proxy: proxy, run: newVersionRun()}
	rig.writer = newTestClient(t, wtopo, "a", func(c *Config) {
		c.Hooks = rig.run.writerHooks()
		// The client's defaults for what opens and closes the breaker.
		c.Node.Breaker.ProbeMax = DefaultProbeMax
		if editWriter != nil {
			editWriter(c)
		}
	})
	for i := 0; i < 2; i++ {
		rig.readers = append(rig.readers, newTestClient(t, f.topo, "a", func(c *Config) { c.Hooks = readerHooks() }))
	}
	for i := 0; i < 20; i++ {
		rig.keys = append(rig.keys, fmt.Sprintf("sw-%d", i))
	}
	return rig
}

// start runs the writer (round robin over the keys, versions rising) and
// the readers until the returned stop is called (once or more); stop waits
// for them.
func (rig *slowPathRig) start() (stop func()) {
	halt := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	var version atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-halt:
				return
			default:
			}
			_ = rig.run.write(rig.writer, rig.keys[i%len(rig.keys)], version.Add(1))
			time.Sleep(2 * time.Millisecond) // pacing the workload, not synchronisation
		}
	}()
	for _, rd := range rig.readers {
		wg.Add(1)
		go func(c *Client) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-halt:
					return
				default:
				}
				rig.run.read(c, rig.keys[i%len(rig.keys)])
			}
		}(rd)
	}
	return func() {
		once.Do(func() { close(halt) })
		wg.Wait()
	}
}

// a0 returns the writer's transport of a0.
func (rig *slowPathRig) a0() *nodeclient.Node { return rig.writer.c.view.Load().byID["a0"].tn }

func TestWriteReachesNodeSlowForWriterZonecached(t *testing.T) {
	testWriteReachesNodeSlowForWriter(t, "zonecached")
}

func TestWriteReachesNodeSlowForWriterMemcached(t *testing.T) {
	testWriteReachesNodeSlowForWriter(t, "memcached")
}

// A live node that is slow for one writer: the writer's path to a0 has
// latency spikes longer than its request timeout, each of which opens its
// breaker of a0 (a spike ends as the breaker opens: a0 answers the writer in
// 20 ms again). Readers reach a0 directly. No read may return a version
// older than an acknowledged write whose request to the node that answered
// had ended: writes are sent through the open breaker, so none is skipped.
func testWriteReachesNodeSlowForWriter(t *testing.T, server string) {
	var rig *slowPathRig
	var trips atomic.Int32
	rig = newSlowPathRig(t, server, func(c *Config) {
		c.Node.Online.Timeout = 300 * time.Millisecond
		c.Node.DialTimeout = 2 * time.Second
		c.Node.Breaker.OnStateChange = func(_ string, _, to nodeclient.State) {
			if to == nodeclient.StateOpen {
				// The spike is over the moment it has opened the breaker.
				rig.proxy.SetDelay(20 * time.Millisecond)
				trips.Add(1)
			}
		}
	})
	stop := rig.start()
	defer stop()
	eventually(t, "reads before the spikes", func() bool { return rig.readCount() > 200 })
	const spikes = 4
	for i := 1; i <= spikes; i++ {
		rig.proxy.SetDelay(time.Second)
		eventually(t, fmt.Sprintf("spike %d to open the writer's breaker of a0", i), func() bool { return trips.Load() >= int32(i) })
		// Let the writer write through the open period and the node's
		// return; then wait for its breaker to be closed again.
		reads := rig.readCount()
		eventually(t, "reads after the spike", func() bool { return rig.readCount() > reads+300 })
		eventually(t, "the writer's breaker of a0 to close", func() bool { return rig.a0().State() == nodeclient.StateClosed })
	}
	stop()
	rig.run.mu.Lock()
	t.Logf("%s: %d spikes, %d writes acknowledged, %d reads", server, spikes, rig.run.ackCount(), len(rig.run.reads))
	rig.run.mu.Unlock()
	if st := rig.run.stale(); len(st) > 0 {
		t.Fatalf("stale reads after acknowledged writes to a node slow for the writer: %s", describe(st))
	}
}

func (rig *slowPathRig) readCount() int {
	rig.run.mu.Lock()
	defer rig.run.mu.Unlock()
	return len(rig.run.reads)
}

// ackCount returns how many writes were acknowledged; r.mu held.
func (r *versionRun) ackCount() int {
	n := 0
	for _, a := range r.acks {
		n += len(a)
	}
	return n
}

// staleBound is the README's bound on reads older than an acknowledged
// write once a writer's path to a node that readers reach heals: the
// writer's next connection to the node (paced at one per ProbeInitial) or
// its next probe (at most ProbeMax plus 20 % jitter, then ProbeTimeout)
// closes its breaker, and its repairs run at once.
const staleBound = DefaultProbeMax*12/10 + nodeclient.DefaultDialTimeout

// A true asymmetric partition, which no client-only protocol can close: the
// writer's path to a0 drops everything for a while (its breaker of a0 opens;
// its writes there fail and are queued as repairs) while readers still read
// a0, and see values older than acknowledged writes. Once the path heals,
// such reads end when the writer's repairs have run, within staleBound.
func TestStaleReadsEndAfterWriterPartitionHeals(t *testing.T) {
	rig := newSlowPathRig(t, "zonecached", func(c *Config) {
		// The client's defaults for timeouts, breaker and probes.
		c.Node.Online.Timeout = nodeclient.DefaultOnlineTimeout
		c.Node.DialTimeout = nodeclient.DefaultDialTimeout
	})
	stop := rig.start()
	defer stop()
	eventually(t, "reads before the partition", func() bool { return rig.readCount() > 200 })
	rig.proxy.SetBlackhole(true)
	eventually(t, "the writer's breaker of a0 to open", func() bool { return rig.a0().State() == nodeclient.StateOpen })
	acks := rig.ackCount()
	eventually(t, "writes acknowledged during the partition", func() bool { return rig.ackCount() > acks+2*len(rig.keys) })

	healed := time.Now()
	rig.proxy.SetBlackhole(false)
	eventually(t, "the writer's repairs of a0", func() bool {
		return rig.a0().State() == nodeclient.StateClosed && rig.writer.PendingRepairs() == 0
	})
	repaired := time.Now()
	reads := rig.readCount()
	eventually(t, "reads after the repairs", func() bool { return rig.readCount() > reads+500 })
	stop()

	st := rig.run.stale()
	if len(st) == 0 {
		t.Fatal("no stale read during the partition: the test did not cut the writer off")
	}
	last := st[0].start
	for _, s := range st {
		if s.start.After(last) {
			last = s.start
		}
	}
	t.Logf("%d stale reads; the last began %v after the heal; the writer's repairs were done %v after it (bound %v)",
		len(st), last.Sub(healed).Round(time.Millisecond), repaired.Sub(healed).Round(time.Millisecond), staleBound)
	if last.After(repaired) {
		t.Fatalf("a stale read began %v after the writer's repairs of a0 were done: %s", last.Sub(repaired), describe(st))
	}
	// The bound, with a margin for a loaded machine under -race.
	if slack := 3 * time.Second; last.Sub(healed) > staleBound+slack {
		t.Fatalf("stale reads went on %v after the heal, beyond the bound %v (+%v slack)", last.Sub(healed), staleBound, slack)
	}
}

func (rig *slowPathRig) ackCount() int {
	rig.run.mu.Lock()
	defer rig.run.mu.Unlock()
	return rig.run.ackCount()
}
