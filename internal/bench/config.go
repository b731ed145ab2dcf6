package bench

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Defaults of a Config's zero fields.
const (
	DefaultConcurrency   = 16
	DefaultDuration      = 10 * time.Second
	DefaultLateThreshold = time.Millisecond
	DefaultEarlyStart    = 2 * time.Millisecond
)

// Config configures a run. The zero value of each field selects its
// default: a closed loop of 16 workers for 10 s with the default Workload
// and no prefill.
type Config struct {
	// Workload is what the run sends.
	Workload Workload
	// Concurrency is the number of workers, each with one request in flight
	// at a time. In an open loop it bounds the requests in flight; slots
	// that find every worker busy wait and count as late. Default
	// DefaultConcurrency (16).
	Concurrency int
	// Rate is the target rate in operations per second for an open loop:
	// operation i is due at start + i/Rate and its latency is measured from
	// that time, so a stalled target shows as latency instead of being
	// hidden (no coordinated omission). 0 means a closed loop: every worker
	// sends its next request as soon as the previous one returns.
	Rate float64
	// Duration is the length of the measured phase when Ops is 0. Default
	// DefaultDuration (10 s).
	Duration time.Duration
	// Ops, when > 0, ends the measured phase after this many operations
	// instead of after Duration.
	Ops int64
	// Prefill writes every key once, before the measured phase, with
	// Concurrency workers; it is reported apart and not measured.
	Prefill bool
	// Warmup, when > 0, runs the workload unmeasured for this long after the
	// prefill and before the measured phase, so connections are open and
	// caches warm. Default 0 (none).
	Warmup time.Duration
	// OpTimeout, when > 0, gives every operation a context with this
	// deadline. Default 0: the Target's own timeouts apply and operations
	// need no per-operation context (which would allocate).
	OpTimeout time.Duration
	// LateThreshold: an open-loop operation that starts more than this
	// after its due time counts as late. Default DefaultLateThreshold (1 ms).
	LateThreshold time.Duration
	// EarlyStart lets an open-loop operation start up to this long before
	// its due time, because Go timers wake about 1 ms late; an operation
	// that starts early is measured from its actual start. Default
	// DefaultEarlyStart (2 ms); negative means 0.
	EarlyStart time.Duration
	// Events run at given offsets into the measured phase (a node killed,
	// a zone lost); the result marks when they ran.
	Events []Event
	// Progress, when set, is called after every per-second sample with that
	// second's Point, from the sampling goroutine.
	Progress func(Point)
}

// Event is an action taken during the measured phase, such as killing a
// node, and marked on the time series and chart.
type Event struct {
	// At is the offset from the start of the measured phase.
	At time.Duration
	// Label names the event on reports and charts.
	Label string
	// Do performs the event; nil only marks the time. It must return
	// promptly when ctx is cancelled.
	Do func(ctx context.Context) error
	// Hold keeps the workload running past Config.Duration until Do
	// returns: a step measured under load that must not be cut short by
	// a slow machine.
	Hold bool
}

// EventMark records when an Event ran and how it ended.
type EventMark struct {
	// At is the offset from the start of the measured phase when Do began.
	At time.Duration
	// Label is the Event's label.
	Label string
	// Err is Do's error text, empty on success.
	Err string
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.Workload = c.Workload.WithDefaults()
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Duration == 0 && c.Ops == 0 {
		c.Duration = DefaultDuration
	}
	if c.LateThreshold == 0 {
		c.LateThreshold = DefaultLateThreshold
	}
	if c.EarlyStart == 0 {
		c.EarlyStart = DefaultEarlyStart
	} else if c.EarlyStart < 0 {
		c.EarlyStart = 0
	}
	return c
}

// Validate reports the first problem of c after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := c.Workload.Validate(); err != nil {
		return err
	}
	if c.Concurrency < 1 || c.Concurrency > 100_000 {
		return fmt.Errorf("concurrency %d must be in [1, 100000]: %w", c.Concurrency, ErrInvalidWorkload)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate > 1e9 {
		return fmt.Errorf("rate %v must be in [0, 1e9] ops/s: %w", c.Rate, ErrInvalidWorkload)
	}
	if c.Duration < 0 || c.Ops < 0 || c.OpTimeout < 0 || c.LateThreshold < 0 || c.Warmup < 0 {
		return fmt.Errorf("duration, ops, warmup, op timeout and late threshold must be ≥ 0: %w", ErrInvalidWorkload)
	}
	if c.Rate > 0 && c.Ops == 0 && int64(c.Duration.Seconds()*c.Rate) < 1 {
		return fmt.Errorf("rate %v for %v schedules no operation: %w", c.Rate, c.Duration, ErrInvalidWorkload)
	}
	return nil
}
