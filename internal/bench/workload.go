package bench

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidWorkload is wrapped by every error about a bad Workload, Mix,
// size range or run configuration; test with errors.Is.
var ErrInvalidWorkload = errors.New("invalid workload")

// Defaults of a Workload's zero fields.
const (
	DefaultKeys      = 100_000
	DefaultKeySize   = 16
	DefaultValueSize = 100
	DefaultSkew      = 0.99
	DefaultBatch     = 10
)

// Dist names a key popularity distribution.
type Dist string

// Key popularity distributions.
const (
	// Uniform picks every key with the same probability (the default).
	Uniform Dist = "uniform"
	// Zipfian picks the key of rank k with probability ∝ 1/k^Skew, k ≥ 1.
	Zipfian Dist = "zipf"
)

// Op is one kind of cache operation.
type Op uint8

// Operations a workload mixes.
const (
	OpGet Op = iota
	OpSet
	OpDelete
	OpMultiGet
	numOps
)

var opNames = [numOps]string{"get", "set", "delete", "mget"}

// String returns the operation's name as used in --mix: get, set, delete,
// mget.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Mix holds the relative weights of the operations; an operation is drawn
// with probability weight/sum. The zero Mix means get=90,set=10.
type Mix struct {
	Get, Set, Delete, MultiGet int
}

func (m Mix) weights() [numOps]int { return [numOps]int{m.Get, m.Set, m.Delete, m.MultiGet} }

// IsZero reports whether every weight is 0.
func (m Mix) IsZero() bool { return m == Mix{} }

// String formats m in the syntax ParseMix reads, omitting zero weights.
func (m Mix) String() string {
	var parts []string
	for op, w := range m.weights() {
		if w > 0 {
			parts = append(parts, opNames[op]+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, ",")
}

// ParseMix reads a mix such as "get=90,set=10" or "get=80,mget=10,delete=10".
// Names: get, set, delete (or del), mget (or multiget). Weights are
// non-negative integers and at least one must be positive; a name may appear
// once.
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("mix %q: %q is not name=weight: %w", s, part, ErrInvalidWorkload)
		}
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 || w > 1_000_000 {
			return Mix{}, fmt.Errorf("mix %q: weight %q must be an integer in [0, 1000000]: %w", s, val, ErrInvalidWorkload)
		}
		var dst *int
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "get":
			dst, name = &m.Get, "get"
		case "set":
			dst, name = &m.Set, "set"
		case "delete", "del":
			dst, name = &m.Delete, "delete"
		case "mget", "multiget":
			dst, name = &m.MultiGet, "mget"
		default:
			return Mix{}, fmt.Errorf("mix %q: unknown operation %q (get, set, delete, mget): %w", s, name, ErrInvalidWorkload)
		}
		if seen[name] {
			return Mix{}, fmt.Errorf("mix %q: %s given twice: %w", s, name, ErrInvalidWorkload)
		}
		seen[name] = true
		*dst = w
	}
	if m.IsZero() {
		return Mix{}, fmt.Errorf("mix %q: every weight is 0: %w", s, ErrInvalidWorkload)
	}
	return m, nil
}

// SizeRange is a value size distribution: uniform in [Min, Max] bytes; Min
// == Max is a fixed size. The zero SizeRange means DefaultValueSize.
type SizeRange struct {
	Min, Max int
}

// MaxValueSize bounds value sizes (memcached's default item limit).
const MaxValueSize = 1 << 20

// String formats r as ParseSizeRange reads it: "100" or "64-1024".
func (r SizeRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
}

// ParseSizeRange reads a fixed size "100" or a uniform range "64-1024", in
// bytes, each in [0, MaxValueSize].
func ParseSizeRange(s string) (SizeRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil {
		return SizeRange{}, fmt.Errorf("size %q: %w", s, ErrInvalidWorkload)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
			return SizeRange{}, fmt.Errorf("size %q: %w", s, ErrInvalidWorkload)
		}
	}
	r := SizeRange{Min: a, Max: b}
	if err := r.validate(); err != nil {
		return SizeRange{}, fmt.Errorf("size %q: %w", s, err)
	}
	return r, nil
}

func (r SizeRange) validate() error {
	if r.Min < 0 || r.Max > MaxValueSize || r.Min > r.Max {
		return fmt.Errorf("size range %d-%d must satisfy 0 ≤ min ≤ max ≤ %d: %w", r.Min, r.Max, MaxValueSize, ErrInvalidWorkload)
	}
	return nil
}

// Workload describes the requests a run sends. The zero value of each field
// selects its default, so Workload{} is 100,000 16-byte keys picked
// uniformly, 90 % get and 10 % set of 100-byte values that never expire.
type Workload struct {
	// Keys is the number of distinct keys. Default DefaultKeys (100,000).
	Keys int
	// KeySize is the length of every key in bytes; it must fit "k" and the
	// decimal digits of Keys-1. Default DefaultKeySize (16). The key of
	// index i is "k" followed by i in decimal, zero-padded to KeySize. All
	// keys are held in one string of Keys × KeySize bytes.
	KeySize int
	// Dist is the key popularity. Default Uniform.
	Dist Dist
	// Skew is the Zipfian θ (> 0; 0.99 is YCSB's default); ignored for
	// Uniform. Default DefaultSkew (0.99). Rank 1 is key index 0.
	Skew float64
	// Mix is the operation mix. Default get=90,set=10.
	Mix Mix
	// Batch is the number of keys in a multi-get (OpMultiGet). Default
	// DefaultBatch (10).
	Batch int
	// ValueSize is the size of values written by sets and the prefill.
	// Default DefaultValueSize (100 bytes, fixed).
	ValueSize SizeRange
	// TTL is the expiration of written items; 0 means never.
	TTL time.Duration
	// Seed makes runs repeatable: worker w draws from a PCG seeded with
	// (Seed, w). Default 1.
	Seed uint64
}

// WithDefaults returns w with every zero field set to its default.
func (w Workload) WithDefaults() Workload {
	if w.Keys == 0 {
		w.Keys = DefaultKeys
	}
	if w.KeySize == 0 {
		w.KeySize = max(DefaultKeySize, 1+len(strconv.Itoa(max(w.Keys-1, 0))))
	}
	if w.Dist == "" {
		w.Dist = Uniform
	}
	if w.Skew == 0 {
		w.Skew = DefaultSkew
	}
	if w.Mix.IsZero() {
		w.Mix = Mix{Get: 90, Set: 10}
	}
	if w.Batch == 0 {
		w.Batch = DefaultBatch
	}
	if w.ValueSize == (SizeRange{}) {
		w.ValueSize = SizeRange{Min: DefaultValueSize, Max: DefaultValueSize}
	}
	if w.Seed == 0 {
		w.Seed = 1
	}
	return w
}

// Validate reports the first problem of w after defaults are applied.
func (w Workload) Validate() error {
	w = w.WithDefaults()
	if w.Keys < 1 {
		return fmt.Errorf("keys %d must be ≥ 1: %w", w.Keys, ErrInvalidWorkload)
	}
	if need := 1 + len(strconv.Itoa(w.Keys-1)); w.KeySize < need || w.KeySize > 250 {
		return fmt.Errorf("key size %d must be in [%d, 250] for %d keys: %w", w.KeySize, need, w.Keys, ErrInvalidWorkload)
	}
	if int64(w.Keys)*int64(w.KeySize) > 1<<32 {
		return fmt.Errorf("keys × key size = %d bytes exceeds 4 GiB: %w", int64(w.Keys)*int64(w.KeySize), ErrInvalidWorkload)
	}
	switch w.Dist {
	case Uniform:
	case Zipfian:
		if !(w.Skew > 0) || math.IsInf(w.Skew, 0) {
			return fmt.Errorf("zipf skew %v must be > 0: %w", w.Skew, ErrInvalidWorkload)
		}
	default:
		return fmt.Errorf("distribution %q (uniform, zipf): %w", w.Dist, ErrInvalidWorkload)
	}
	for _, v := range w.Mix.weights() {
		if v < 0 {
			return fmt.Errorf("mix %+v has a negative weight: %w", w.Mix, ErrInvalidWorkload)
		}
	}
	if w.Batch < 1 || w.Batch > 10_000 {
		return fmt.Errorf("batch %d must be in [1, 10000]: %w", w.Batch, ErrInvalidWorkload)
	}
	if w.Mix.MultiGet > 0 && w.Batch > w.Keys {
		return fmt.Errorf("batch %d exceeds the %d keys: %w", w.Batch, w.Keys, ErrInvalidWorkload)
	}
	if w.TTL < 0 {
		return fmt.Errorf("ttl %v must be ≥ 0: %w", w.TTL, ErrInvalidWorkload)
	}
	return w.ValueSize.validate()
}
