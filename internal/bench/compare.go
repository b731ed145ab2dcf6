package bench

import (
	"context"
	"fmt"
	"time"
)

// DefaultSlice is the default length of one Compare slice.
const DefaultSlice = 2 * time.Second

// NamedTarget is a Target with the label reports show for it.
type NamedTarget struct {
	Name   string
	Target Target
}

// CompareConfig configures Compare. Its Config's Duration (or Ops) and
// Warmup are per Target; Events are not supported (use Run for scenarios).
type CompareConfig struct {
	Config
	// Slice is the length of one slice when comparing by Duration. Default
	// DefaultSlice (2 s).
	Slice time.Duration
	// Progress, when set, is called after every per-second sample with the
	// name of the Target being measured. Config.Progress is ignored.
	Progress func(name string, p Point)
}

// Comparison is the outcome of Compare: A and B hold each Target's merged
// slices.
type Comparison struct {
	A, B *Result
	// Slices is the number of slices each Target ran.
	Slices int
}

// Compare measures a and b alternately within one run, in slices ordered
// A B, B A, A B, … so that noise on the machine (other processes, thermal
// or frequency changes, drift) hits both alike, and returns each Target's
// merged Result. Both Targets see the same workload; with Prefill each is
// prefilled first.
func Compare(ctx context.Context, cfg CompareConfig, a, b NamedTarget) (*Comparison, error) {
	if len(cfg.Events) > 0 {
		return nil, fmt.Errorf("compare does not run events: %w", ErrInvalidWorkload)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := cfg.withDefaults()
	if cfg.Slice <= 0 {
		cfg.Slice = DefaultSlice
	}
	sh, err := newShared(base.Workload)
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{A: newResult(a.Name), B: newResult(b.Name)}
	pair := []struct {
		nt  NamedTarget
		res *Result
	}{{a, cmp.A}, {b, cmp.B}}

	if base.Prefill {
		for _, p := range pair {
			p.res.Prefill = prefill(ctx, base, sh, p.nt.Target, p.res)
		}
	}
	for _, p := range pair {
		warmup(ctx, base, sh, p.nt.Target)
	}

	// Split the per-Target budget into slices.
	n := 1
	sliceCfg := base
	var lastOps int64
	if base.Ops > 0 {
		n = int(min(10, base.Ops))
		sliceCfg.Ops = base.Ops / int64(n)
		lastOps = base.Ops - sliceCfg.Ops*int64(n-1)
	} else {
		n = max(1, int((base.Duration+cfg.Slice-1)/cfg.Slice))
		sliceCfg.Duration = base.Duration / time.Duration(n)
	}
	if base.Rate > 0 && sliceCfg.Ops == 0 && int64(sliceCfg.Duration.Seconds()*base.Rate) < 1 {
		return nil, fmt.Errorf("slice %v at rate %v schedules no operation: %w", sliceCfg.Duration, base.Rate, ErrInvalidWorkload)
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		c := sliceCfg
		if i == n-1 && lastOps > 0 {
			c.Ops = lastOps
		}
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, j := range order {
			p := pair[j]
			if cfg.Progress != nil {
				name := p.nt.Name
				c.Progress = func(pt Point) { cfg.Progress(name, pt) }
			}
			slice := newResult(p.nt.Name)
			measure(ctx, c, sh, p.nt.Target, slice, uint64(i+1))
			slice.Slices = []SliceStat{{Throughput: slice.Throughput(), P99: slice.Latency.Percentile(0.99)}}
			p.res.Merge(slice)
		}
		cmp.Slices++
	}
	cmp.A.Concurrency, cmp.A.Rate = base.Concurrency, base.Rate
	cmp.B.Concurrency, cmp.B.Rate = base.Concurrency, base.Rate
	return cmp, ctx.Err()
}
