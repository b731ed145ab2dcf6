package bench

import (
	"math/rand/v2"
	"strings"
)

// keySpace holds every key of a workload in one string, KeySize bytes each,
// so picking a key is a substring and costs no allocation.
type keySpace struct {
	all  string
	size int
	n    int
}

func newKeySpace(n, size int) *keySpace {
	var b strings.Builder
	b.Grow(n * size)
	var digits [20]byte
	for i := 0; i < n; i++ {
		// "k" + zero padding + decimal i
		d := len(digits)
		v := i
		for {
			d--
			digits[d] = byte('0' + v%10)
			v /= 10
			if v == 0 {
				break
			}
		}
		b.WriteByte('k')
		for pad := size - 1 - (len(digits) - d); pad > 0; pad-- {
			b.WriteByte('0')
		}
		b.Write(digits[d:])
	}
	return &keySpace{all: b.String(), size: size, n: n}
}

// key returns the key of index i.
func (k *keySpace) key(i int) string { return k.all[i*k.size : (i+1)*k.size] }

// shared is the read-only part of a workload that all workers use.
type shared struct {
	w      Workload
	keys   *keySpace
	zipf   *Zipf // nil for Uniform
	value  []byte
	cum    [numOps]int // cumulative op weights
	weight int
}

func newShared(w Workload) (*shared, error) {
	w = w.WithDefaults()
	if err := w.Validate(); err != nil {
		return nil, err
	}
	s := &shared{w: w, keys: newKeySpace(w.Keys, w.KeySize)}
	if w.Dist == Zipfian {
		z, err := NewZipf(w.Keys, w.Skew)
		if err != nil {
			return nil, err
		}
		s.zipf = z
	}
	r := rand.New(rand.NewPCG(w.Seed, 0xfeed))
	s.value = make([]byte, w.ValueSize.Max)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := range s.value {
		s.value[i] = alphabet[r.IntN(len(alphabet))]
	}
	for op, wt := range w.Mix.weights() {
		s.weight += wt
		s.cum[op] = s.weight
	}
	return s, nil
}

// gen draws one worker's operations; it is not safe for concurrent use.
type gen struct {
	s     *shared
	r     *rand.Rand
	batch []string
	idx   []int            // indexes in batch, for small batches
	seen  map[int]struct{} // indexes in batch, for large batches
}

func newGen(s *shared, stream uint64) *gen {
	return &gen{
		s:     s,
		r:     rand.New(rand.NewPCG(s.w.Seed, stream)),
		batch: make([]string, 0, s.w.Batch),
		idx:   make([]int, 0, s.w.Batch),
		seen:  make(map[int]struct{}),
	}
}

func (g *gen) op() Op {
	x := g.r.IntN(g.s.weight)
	for op := Op(0); op < numOps; op++ {
		if x < g.s.cum[op] {
			return op
		}
	}
	return OpGet
}

func (g *gen) index() int {
	if g.s.zipf != nil {
		return g.s.zipf.Rank(g.r)
	}
	return g.r.IntN(g.s.w.Keys)
}

func (g *gen) key() string { return g.s.keys.key(g.index()) }

// value returns a value of a size drawn from the workload's range. It
// aliases a shared buffer that no one writes after setup.
func (g *gen) value() []byte {
	vs := g.s.w.ValueSize
	n := vs.Min
	if vs.Max > vs.Min {
		n += g.r.IntN(vs.Max - vs.Min + 1)
	}
	return g.s.value[:n]
}

// multiKeys returns Batch distinct keys. Draws that repeat a key are drawn
// again; after many repeats (a very skewed Zipf with a batch close to the
// key count) the next unused indexes are taken instead.
func (g *gen) multiKeys() []string {
	g.batch = g.batch[:0]
	g.idx = g.idx[:0]
	clear(g.seen)
	n := g.s.w.Batch
	for tries := 0; len(g.batch) < n && tries < 8*n; tries++ {
		g.addDistinct(g.index())
	}
	for i := 0; len(g.batch) < n; i++ {
		g.addDistinct(i)
	}
	return g.batch
}

// linearDedup is the batch size up to which a linear scan finds repeats
// faster than a map.
const linearDedup = 32

// addDistinct appends key i to the batch unless it is already there.
func (g *gen) addDistinct(i int) {
	if g.s.w.Batch <= linearDedup {
		for _, j := range g.idx {
			if j == i {
				return
			}
		}
		g.idx = append(g.idx, i)
	} else {
		if _, dup := g.seen[i]; dup {
			return
		}
		g.seen[i] = struct{}{}
	}
	g.batch = append(g.batch, g.s.keys.key(i))
}
