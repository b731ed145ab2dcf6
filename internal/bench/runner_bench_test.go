package bench

import (
	"context"
	"testing"
	"time"
)

// nopTarget answers every call at once: it measures the harness itself.
type nopTarget struct{}

func (nopTarget) Get(context.Context, string) (bool, error)           { return true, nil }
func (nopTarget) GetMulti(_ context.Context, k []string) (int, error) { return len(k), nil }
func (nopTarget) Set(context.Context, string, []byte, time.Duration) error {
	return nil
}
func (nopTarget) Delete(context.Context, string) error { return nil }
func (nopTarget) Close() error                         { return nil }

// BenchmarkHarnessOverhead is the harness's cost per operation (draw,
// clock reads, histogram records, counters) against a target that does
// nothing; it must not allocate.
func BenchmarkHarnessOverhead(b *testing.B) {
	for _, tc := range []struct {
		name string
		w    Workload
	}{
		{"uniform-get-set", Workload{Keys: 100_000}},
		{"zipf-mget10", Workload{Keys: 100_000, Dist: Zipfian, Mix: Mix{Get: 1, MultiGet: 1}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Config{Workload: tc.w, Concurrency: 1, Ops: int64(b.N)}
			sh, err := newShared(cfg.Workload)
			if err != nil {
				b.Fatal(err)
			}
			cfg = cfg.withDefaults()
			b.ReportAllocs()
			b.ResetTimer()
			measure(context.Background(), cfg, sh, nopTarget{}, newResult("nop"), 0)
		})
	}
}

func TestHarnessDoesNotAllocatePerOperation(t *testing.T) {
	cfg := Config{Workload: Workload{Keys: 1000, Mix: Mix{Get: 1, Set: 1, Delete: 1, MultiGet: 1}}, Concurrency: 1}.withDefaults()
	sh, err := newShared(cfg.Workload)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{cfg: cfg, sh: sh, t: nopTarget{}, ctx: context.Background(), start: time.Now()}
	w := newWorker(sh, cfg, 1)
	w.ctx = r.ctx
	for op := Op(0); op < numOps; op++ {
		r.do(w, op, time.Time{}, time.Now()) // warm the reused buffers
	}
	op := Op(0)
	if n := testing.AllocsPerRun(2000, func() { r.do(w, op, time.Time{}, time.Now()); op = (op + 1) % numOps }); n != 0 {
		t.Fatalf("the harness allocates %v times per operation", n)
	}
}
