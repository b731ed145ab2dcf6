package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// source supplies the choices of a model run: random for the randomized
// test, fuzz input bytes for the fuzz target.
type source interface {
	intn(n int) int
	done() bool
}

type randSource struct {
	r    *rand.Rand
	left int
}

func (s *randSource) intn(n int) int { s.left--; return s.r.IntN(n) }
func (s *randSource) done() bool     { return s.left <= 0 }

type byteSource struct{ b []byte }

func (s *byteSource) intn(n int) int {
	if len(s.b) == 0 {
		return 0
	}
	v := int(s.b[0])
	if n > 256 && len(s.b) > 1 {
		v = v<<8 | int(s.b[1])
		s.b = s.b[1:]
	}
	s.b = s.b[1:]
	return v % n
}
func (s *byteSource) done() bool { return len(s.b) == 0 }

type modelItem struct {
	value []byte
	meta  Meta
}

// model is the reference: a map with memcached semantics and no memory
// limit. In lossy mode (a store small enough to evict), a store miss on a
// key the model holds is accepted as an eviction and the model forgets the
// key; a hit must still match exactly.
type model struct {
	t       testing.TB
	s       *Store
	c       *clock
	items   map[string]*modelItem
	cas     uint64
	pending int64
	lossy   bool
	keys    []string
	maxVal  int
}

func newModel(t testing.TB, cfg Config, lossy bool, nkeys, maxVal int) *model {
	c := newClock()
	m := &model{t: t, c: c, s: newStore(t, cfg, c), items: map[string]*modelItem{}, lossy: lossy, maxVal: maxVal}
	for i := range nkeys {
		m.keys = append(m.keys, fmt.Sprintf("key-%d-%s", i, string(bytes.Repeat([]byte{'x'}, i%7))))
	}
	return m
}

func (m *model) now() int64 { return m.c.Unix() }

// sync applies what the store does first on every operation: a delayed
// flush whose time has come.
func (m *model) sync() {
	if m.pending != 0 && m.now() >= m.pending {
		m.pending = 0
		clear(m.items)
	}
}

// visible returns the model's item for key, dropping it if expired (the
// store reclaims expired items on access).
func (m *model) visible(key string) *modelItem {
	it := m.items[key]
	if it == nil {
		return nil
	}
	if it.meta.Expires != 0 && m.now() >= it.meta.Expires {
		delete(m.items, key)
		return nil
	}
	return it
}

// observe reconciles the model with what the store saw for key.
func (m *model) observe(key string, found bool, meta Meta, value []byte) *modelItem {
	it := m.visible(key)
	if it != nil && !found && m.lossy {
		delete(m.items, key)
		return nil
	}
	require.Equal(m.t, it != nil, found, "found %q", key)
	if it != nil {
		require.Equal(m.t, it.meta, meta, "meta of %q", key)
		require.True(m.t, bytes.Equal(it.value, value), "value of %q: %q != %q", key, value, it.value)
	}
	return it
}

func (m *model) randMeta(src source) Meta {
	var mt Meta
	mt.Flags = uint32(src.intn(4))
	switch src.intn(6) {
	case 0:
		mt.Expires = m.now() + int64(src.intn(4)) + 1
	case 1:
		mt.Expires = m.now() - 1
	case 2:
		mt.Expires = -1
	}
	if src.intn(8) == 0 {
		mt.CAS = uint64(src.intn(1000)) + 1
	}
	mt.Stale = src.intn(4) == 0
	mt.WinSent = src.intn(4) == 0
	return mt
}

func normalize(mt Meta) Meta {
	mt.Expires = int64(toU32Expires(mt.Expires))
	return mt
}

func (m *model) step(src source) {
	t := m.t
	key := m.keys[src.intn(len(m.keys))]
	now := m.now()
	switch op := src.intn(20); {
	case op < 6: // Put: plain, append or prepend
		mode := src.intn(3)
		val := bytes.Repeat([]byte{byte('a' + src.intn(26))}, src.intn(m.maxVal+1))
		newMeta := m.randMeta(src)
		var want *modelItem
		got, err := m.s.Update([]byte(key), func(e *Entry) Op {
			m.sync()
			it := m.observe(key, e.Found, e.Meta, e.Value)
			parts := [][]byte{val}
			wv := append([]byte(nil), val...)
			if it != nil && mode == 1 {
				parts = [][]byte{e.Value, val}
				wv = append(append([]byte(nil), it.value...), val...)
			} else if it != nil && mode == 2 {
				parts = [][]byte{val, e.Value}
				wv = append(append([]byte(nil), val...), it.value...)
			}
			want = &modelItem{value: wv, meta: newMeta}
			return Op{Action: Put, Meta: newMeta, Value: parts}
		})
		if LimitedSize(len(key), len(want.value)) > m.s.maxItemSize {
			require.ErrorIs(t, err, ErrTooLarge)
			require.Equal(t, Meta{}, got)
			break // the item is left as it was, and no CAS is used
		}
		require.NoError(t, err)
		if want.meta.CAS == 0 {
			m.cas++
			want.meta.CAS = m.cas
		}
		want.meta.Stored, want.meta.Accessed = now, now
		want.meta = normalize(want.meta)
		require.Equal(t, want.meta, got)
		m.items[key] = want
	case op < 8: // SetMeta
		var want Meta
		got, err := m.s.Update([]byte(key), func(e *Entry) Op {
			m.sync()
			if m.observe(key, e.Found, e.Meta, e.Value) == nil {
				return Op{Action: SetMeta, Meta: Meta{Flags: 5}}
			}
			nm := m.randMeta(src)
			nm.Stored, nm.Accessed, nm.Fetched = e.Meta.Stored, e.Meta.Accessed, src.intn(2) == 0
			want = nm
			return Op{Action: SetMeta, Meta: nm}
		})
		require.NoError(t, err)
		if it := m.items[key]; it != nil {
			if want.CAS == 0 {
				m.cas++
				want.CAS = m.cas
			}
			it.meta = normalize(want)
			require.Equal(t, it.meta, got)
		} else {
			require.Equal(t, Meta{}, got)
		}
	case op < 10: // Delete
		got, err := m.s.Update([]byte(key), func(e *Entry) Op {
			m.sync()
			m.observe(key, e.Found, e.Meta, e.Value)
			return Op{Action: Delete}
		})
		require.NoError(t, err)
		require.Equal(t, Meta{}, got)
		delete(m.items, key)
	case op < 12: // Keep
		noBump := src.intn(2) == 0
		got, err := m.s.Update([]byte(key), func(e *Entry) Op {
			m.sync()
			m.observe(key, e.Found, e.Meta, e.Value)
			return Op{Action: Keep, NoBump: noBump}
		})
		require.NoError(t, err)
		it := m.items[key]
		if it == nil {
			require.Equal(t, Meta{}, got)
			break
		}
		if !noBump {
			it.meta.Accessed, it.meta.Fetched = now, true
		}
		require.Equal(t, it.meta, got)
	case op < 16: // Get
		seen := false
		hit := m.s.Get([]byte(key), func(e *Entry) {
			seen = true
			m.sync()
			m.observe(key, true, e.Meta, e.Value)
		})
		require.Equal(t, hit, seen)
		if !hit {
			m.sync()
			m.observe(key, false, Meta{}, nil)
			break
		}
		it := m.items[key]
		it.meta.Accessed, it.meta.Fetched = now, true
	case op < 17: // clock
		m.c.Advance(time.Duration(src.intn(3)) * time.Second)
	case op < 18: // Flush
		m.sync()
		if src.intn(3) == 0 {
			m.s.Flush(m.c.Now().Add(-time.Duration(src.intn(2)) * time.Second))
			clear(m.items)
			m.pending = 0
		} else {
			at := m.now() + int64(src.intn(4)) + 1
			m.s.Flush(time.Unix(at, 0))
			m.pending = at
		}
	case op < 19: // Stats
		st := m.s.Stats()
		m.sync()
		m.checkCounts(st)
	default: // Range
		m.sync()
		n := 0
		m.s.Range(func(k []byte, meta Meta, size int) bool {
			n++
			it := m.items[string(k)]
			require.NotNil(t, it, "Range visits %q", k)
			require.Equal(t, it.meta, meta)
			require.Equal(t, ItemSize(len(k), len(it.value)), size)
			return true
		})
		live := 0
		for _, it := range m.items {
			if it.meta.Expires == 0 || now < it.meta.Expires {
				live++
			}
		}
		if m.lossy {
			require.LessOrEqual(t, n, live)
		} else {
			require.Equal(t, live, n)
		}
	}
}

func (m *model) checkCounts(st Stats) {
	var bytes int64
	for k, it := range m.items {
		bytes += int64(ItemSize(len(k), len(it.value)))
	}
	if m.lossy {
		require.LessOrEqual(m.t, st.Items, int64(len(m.items)))
	} else {
		require.Equal(m.t, int64(len(m.items)), st.Items)
		require.Equal(m.t, bytes, st.Bytes)
		require.Zero(m.t, st.Evictions)
	}
	require.LessOrEqual(m.t, st.ArenaBytes+st.IndexBytes, st.LimitBytes)
	for i := range m.s.shards {
		require.Zero(m.t, indexMismatches(&m.s.shards[i]), "ring walk and index disagree")
	}
}

func (m *model) run(src source) {
	for !src.done() {
		m.step(src)
	}
	m.checkCounts(m.s.Stats())
}

// TestModel runs random operation sequences against the map model with
// enough memory that nothing is evicted: every result, CAS and count must
// match exactly.
func TestModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			m := newModel(t, Config{}, false, 40, 100)
			m.run(&randSource{r: rand.New(rand.NewPCG(seed, 1)), left: 20000})
		})
	}
}

// TestModelEvicting runs the model against a store small enough to evict
// and wrap its rings all the time, with appends and prepends aliasing the
// old value: hits must still match the model exactly.
func TestModelEvicting(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			m := newModel(t, Config{MaxBytes: 4 << 10, MaxItemSize: 1 << 10}, true, 60, 300)
			m.run(&randSource{r: rand.New(rand.NewPCG(seed, 2)), left: 30000})
			require.NotZero(t, m.s.Stats().Evictions, "the test must exercise eviction")
		})
	}
}

// FuzzOps interprets the input as an operation sequence against the model,
// on an evicting store.
func FuzzOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"))
	f.Add(bytes.Repeat([]byte{3, 0, 1, 200, 7, 5, 0}, 50))
	f.Add(bytes.Repeat([]byte{1, 2, 1, 255, 0, 0, 0, 9, 14, 3}, 80))
	r := rand.New(rand.NewPCG(7, 7))
	for range 4 {
		b := make([]byte, 2000)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newModel(t, Config{MaxBytes: 4 << 10, MaxItemSize: 1 << 10}, true, 12, 400)
		m.run(&byteSource{b: data})
	})
}
