package bench

import (
	"context"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

func TestNodeTargetAgainstMemcached(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	tg := NewNodeTarget(mc.Addr, 0, 5*time.Second, nil)
	defer tg.Close()
	ctx := context.Background()
	if hit, err := tg.Get(ctx, "absent"); hit || err != nil {
		t.Fatalf("Get(absent) = %v, %v; want miss", hit, err)
	}
	if err := tg.Set(ctx, "a", []byte("1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if hit, err := tg.Get(ctx, "a"); !hit || err != nil {
		t.Fatalf("Get(a) = %v, %v; want hit", hit, err)
	}
	if n, err := tg.GetMulti(ctx, []string{"a", "b"}); n != 1 || err != nil {
		t.Fatalf("GetMulti = %d, %v; want 1 hit", n, err)
	}
	if err := tg.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := tg.Delete(ctx, "a"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if hit, _ := tg.Get(ctx, "a"); hit {
		t.Fatal("a still there after Delete")
	}
}

func TestCompareGomemcacheAndTransport(t *testing.T) {
	mc := testproc.StartMemcached(t, "-m", "64")
	a := NewMemcacheTarget(mc.Addr, 4, 5*time.Second)
	defer a.Close()
	b := NewNodeTarget(mc.Addr, 0, 5*time.Second, nil)
	defer b.Close()
	cfg := CompareConfig{Config: Config{
		Workload:    Workload{Keys: 1000, Mix: Mix{Get: 80, Set: 10, MultiGet: 10}, Batch: 10},
		Concurrency: 4, Ops: 4000, Prefill: true,
	}}
	cmp, err := Compare(context.Background(), cfg, NamedTarget{"gomemcache", a}, NamedTarget{"transport", b})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Result{cmp.A, cmp.B} {
		if r.Ops != 4000 || r.Errors != 0 || r.Misses != 0 || r.Prefill.Keys != 1000 {
			t.Fatalf("%s: ops %d errors %d %v misses %d prefill %+v", r.Name, r.Ops, r.Errors, r.ErrorSamples, r.Misses, r.Prefill)
		}
	}
}
