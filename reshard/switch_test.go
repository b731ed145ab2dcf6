package reshard

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/reshardtest"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/sharding"
)

// viewPair is a leading client, on the topology published last, and a
// lagging one, on the topology before: clients that load a topology within
// RunConfig.ViewLag use at most these two at a time.
type viewPair struct {
	mu        sync.RWMutex // held to publish; read-held by each check
	lead, lag *client.Client
	label     string
	views     []replication.Topology
}

func newViewPair(t *testing.T, cur replication.Topology) *viewPair {
	t.Helper()
	p := &viewPair{label: "current/current", views: []replication.Topology{cur}}
	for _, c := range []**client.Client{&p.lead, &p.lag} {
		var err error
		if *c, err = client.New(client.Config{Zone: "a", Topology: cur}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*c).Close() })
	}
	return p
}

// publish moves the lagging client to the leading one's topology and the
// leading one to top, the topology of step.
func (p *viewPair) publish(step Step, top replication.Topology) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.lag.SetTopology(p.lead.Topology()); err != nil {
		return err
	}
	if err := p.lead.SetTopology(top); err != nil {
		return err
	}
	p.label = stepLabel(p.views) + "/" + step.String()
	p.views = append(p.views, top)
	return nil
}

func stepLabel(views []replication.Topology) string {
	return []string{"current", "intermediate", "switch", "cutover"}[len(views)-1]
}

// freshness counts, per pair of views, the checks of one key written by
// one client and read by the other, the reads that saw an older value
// until a write still in flight to the replica landed, and the stale ones.
type freshness struct {
	mu                      sync.Mutex
	checks, inFlight, stale map[string]int
	failed                  int // writes not acknowledged
	example                 string
}

// check writes key through one client of p and reads it through the
// other; a read that does not return the value is read again for up to 2 s
// (a write to a replica the policy did not wait for is in flight for at
// most the pool timeout, 500 ms): stale if it never does.
func (f *freshness) check(ctx context.Context, p *viewPair, key string, seq int, leadWrites bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	w, r := p.lag, p.lead
	if leadWrites {
		w, r = p.lead, p.lag
	}
	want := strconv.Itoa(seq)
	if _, err := w.Set(ctx, client.Item{Key: key, Value: []byte(want)}); err != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.failed++ // not acknowledged: nothing to read back (a timeout on a loaded machine)
		return nil
	}
	got, late := "", false
	for deadline := time.Now().Add(2 * time.Second); ; late = true {
		it, err := r.Get(ctx, key)
		if got = string(it.Value); err == nil && got == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks[p.label]++
	switch {
	case got != want:
		f.stale[p.label]++
		f.example = key + ": wrote " + want + " read " + got + " (" + p.label + ")"
	case late:
		f.inFlight[p.label]++
	}
	return nil
}

// TestReshardStaticCutoverServesNoStaleRead grows zone a of a stock
// memcached fleet while two clients of zone a, one on the topology
// published last and one on the one before, write each moving key in turn
// and read it through the other, throughout the reshard: no read returns
// an older value than the write just acknowledged, in any pair of
// adjacent views (current/intermediate, intermediate/switch,
// switch/cutover). Without the switch step the cutover would pair a
// reader on the intermediate topology with a writer on the target: the
// control check, made in the cutover's wait, finds that pair stale.
func TestReshardStaticCutoverServesNoStaleRead(t *testing.T) {
	ctx := context.Background()
	cur, spare := memcachedFleet(t, "a-3")
	keys, control := reshardtest.Keys("k", 300), reshardtest.Keys("ctl", 100)
	reshardtest.SetOwners(t, cur, append(keys, control...))
	change := Change{Add: []replication.Node{spare["a-3"]}}
	tgt, err := change.Apply(cur)
	if err != nil {
		t.Fatal(err)
	}
	keys, control = movingKeys(t, cur, tgt, keys), movingKeys(t, cur, tgt, control)
	views := newViewPair(t, cur)
	f := &freshness{checks: map[string]int{}, inFlight: map[string]int{}, stale: map[string]int{}}
	var controlStale atomic.Int64
	say := func(step Step, msg string) {
		if step == StepCutover && msg == "waiting 1s for clients to use it" {
			controlStale.Store(int64(staleAcross(t, views.views[1], tgt, control)))
		}
	}
	r, err := New(RunConfig{Fleet: &StaticFleet{Current: cur, Write: func(_ context.Context, step Step, top replication.Topology) error {
		return views.publish(step, top)
	}}, Change: change, ViewLag: time.Second, Say: say})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var workers sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		var mine []string // each key has one writer: a read expects its last write
		for i := w; i < len(keys); i += 4 {
			mine = append(mine, keys[i])
		}
		workers.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := f.check(ctx, views, mine[seq%len(mine)], seq, seq%2 == 0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	err = r.Run(ctx)
	close(stop)
	workers.Wait()
	close(errs)
	if err != nil {
		t.Fatal(err)
	}
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("checks %v, in flight %v, stale %v, writes failed %d; control (intermediate reader, target writer): %d of %d stale",
		f.checks, f.inFlight, f.stale, f.failed, controlStale.Load(), len(control))
	for _, pair := range []string{"current/intermediate", "intermediate/switch", "switch/cutover"} {
		if f.checks[pair] < 20 || f.stale[pair] > 0 {
			t.Errorf("%s: %d checks, %d stale (%s)", pair, f.checks[pair], f.stale[pair], f.example)
		}
	}
	if controlStale.Load() == 0 {
		t.Errorf("control: a reader on the intermediate topology read no stale value of %d keys written under the target", len(control))
	}
}

// movingKeys returns the keys whose read owner in zone a changes from cur
// to tgt.
func movingKeys(t *testing.T, cur, tgt replication.Topology, keys []string) []string {
	t.Helper()
	cp, err := replication.NewPlacement(cur, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := replication.NewPlacement(tgt, sharding.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		was, _ := cp.Zone("a").ReadOwner(k)
		if now, _ := tp.Zone("a").ReadOwner(k); now.ID != was.ID {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		t.Fatal("no key moves")
	}
	return out
}

// staleAcross writes keys through a client on writer's topology and
// counts those a client of zone a on reader's does not read back.
func staleAcross(t *testing.T, reader, writer replication.Topology, keys []string) int {
	t.Helper()
	ctx := context.Background()
	w, err := client.New(client.Config{Zone: "a", Topology: writer})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := client.New(client.Config{Zone: "a", Topology: reader})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stale := 0
	for _, k := range keys {
		if _, err := w.Set(ctx, client.Item{Key: k, Value: []byte("new")}); err != nil {
			t.Fatal(err)
		}
		if it, err := r.Get(ctx, k); err != nil || string(it.Value) != "new" {
			stale++
		}
	}
	return stale
}
