package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{MaxBytes: 1 << 20, MaxItemSize: 1 << 20},
		{MaxBytes: -1},
		{MaxItemSize: 100},
		{MaxBytes: 4 << 30, MaxItemSize: 2 << 30},
	} {
		_, err := New(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
	}
	s, err := New(Config{MaxBytes: 2 << 20, MaxItemSize: 1 << 20, SweepInterval: -1})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
}

func TestSetGetDeleteAndCAS(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{}, c)

	m := set(t, s, "a", "hello", Meta{Flags: 7})
	assert.Equal(t, Meta{Flags: 7, CAS: 1, Stored: c.Unix(), Accessed: c.Unix()}, m)
	m = set(t, s, "b", "world", Meta{})
	assert.Equal(t, uint64(2), m.CAS)
	m = set(t, s, "a", "again", Meta{})
	assert.Equal(t, uint64(3), m.CAS, "CAS grows by exactly one per store")

	c.Advance(5 * time.Second)
	v, gm, ok := get(s, "a")
	require.True(t, ok)
	assert.Equal(t, "again", v)
	assert.False(t, gm.Fetched, "callback sees the state before this read")
	assert.Equal(t, c.Unix()-5, gm.Accessed)
	_, gm, _ = get(s, "a")
	assert.True(t, gm.Fetched)
	assert.Equal(t, c.Unix(), gm.Accessed, "the first read bumped Accessed")

	// Explicit CAS is kept and does not consume the counter.
	m = set(t, s, "x", "v", Meta{CAS: 1000})
	assert.Equal(t, uint64(1000), m.CAS)
	m = set(t, s, "y", "v", Meta{})
	assert.Equal(t, uint64(4), m.CAS)

	// SetMeta with and without an explicit CAS.
	m, err := s.Update([]byte("y"), func(e *Entry) Op {
		require.True(t, e.Found)
		nm := e.Meta
		nm.CAS = 0
		nm.Flags = 9
		return Op{Action: SetMeta, Meta: nm}
	})
	require.NoError(t, err)
	assert.Equal(t, uint64(5), m.CAS)
	assert.Equal(t, uint32(9), m.Flags)
	m, err = s.Update([]byte("y"), func(e *Entry) Op {
		nm := e.Meta
		nm.CAS = 77
		return Op{Action: SetMeta, Meta: nm}
	})
	require.NoError(t, err)
	assert.Equal(t, uint64(77), m.CAS)
	v, gm, _ = get(s, "y")
	assert.Equal(t, "v", v)
	assert.Equal(t, uint64(77), gm.CAS)

	// Keep with and without bump.
	c.Advance(time.Second)
	m, err = s.Update([]byte("b"), func(e *Entry) Op { return Op{Action: Keep, NoBump: true} })
	require.NoError(t, err)
	assert.False(t, m.Fetched)
	m, err = s.Update([]byte("b"), func(e *Entry) Op { return Op{Action: Keep} })
	require.NoError(t, err)
	assert.True(t, m.Fetched)
	assert.Equal(t, c.Unix(), m.Accessed)

	// Miss paths return zero Meta.
	for _, a := range []Action{Keep, SetMeta, Delete} {
		m, err = s.Update([]byte("nope"), func(e *Entry) Op {
			assert.False(t, e.Found)
			return Op{Action: a, Meta: Meta{Flags: 1}}
		})
		require.NoError(t, err)
		assert.Equal(t, Meta{}, m)
	}
	_, _, ok = get(s, "nope")
	assert.False(t, ok, "SetMeta on a miss creates nothing")

	m, err = s.Update([]byte("a"), func(e *Entry) Op { return Op{Action: Delete} })
	require.NoError(t, err)
	assert.Equal(t, Meta{}, m)
	_, _, ok = get(s, "a")
	assert.False(t, ok)
	st := s.Stats()
	assert.Equal(t, int64(3), st.Items)
	assert.Equal(t, int64(ItemSize(1, 5)+ItemSize(1, 1)*2), st.Bytes)
	assert.Equal(t, uint64(5), st.TotalItems)
}

func TestKeyLimits(t *testing.T) {
	s := newStore(t, Config{}, newClock())
	long := bytes.Repeat([]byte{'k'}, MaxKeyLength+1)
	_, err := s.Update(long, func(*Entry) Op { return Op{Action: Put} })
	assert.ErrorIs(t, err, ErrKeyTooLong)
	assert.False(t, s.Get(long, nil))
	key := strings.Repeat("k", MaxKeyLength)
	set(t, s, key, "v", Meta{})
	v, _, ok := get(s, key)
	assert.True(t, ok)
	assert.Equal(t, "v", v)
}

func TestExpiry(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{}, c)
	set(t, s, "k", "v", Meta{Expires: c.Unix() + 10})
	set(t, s, "never", "v", Meta{})
	set(t, s, "past", "v", Meta{Expires: -1})
	_, _, ok := get(s, "past")
	assert.False(t, ok, "a negative expiry is already expired")
	c.Advance(9 * time.Second)
	_, m, ok := get(s, "k")
	require.True(t, ok)
	assert.Equal(t, c.Unix()+1, m.Expires)
	c.Advance(time.Second)
	_, _, ok = get(s, "k")
	assert.False(t, ok, "expired when now >= Expires")
	_, err := s.Update([]byte("k"), func(e *Entry) Op {
		assert.False(t, e.Found)
		return Op{Action: Keep}
	})
	require.NoError(t, err)
	_, _, ok = get(s, "never")
	assert.True(t, ok)
	st := s.Stats()
	assert.Equal(t, int64(1), st.Items)
	assert.Equal(t, uint64(2), st.Reclaimed)
	assert.Equal(t, uint64(1), st.ExpiredUnfetched, "k was read once; past never")
}

func TestSweeperReclaimsExpired(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{SweepInterval: -1}, c)
	for i := range 1000 {
		set(t, s, fmt.Sprint("k", i), "v", Meta{Expires: c.Unix() + 1})
	}
	set(t, s, "keep", "v", Meta{})
	c.Advance(2 * time.Second)
	n := 0
	for range 100 {
		n += s.sweep(16)
		if s.Stats().Items == 1 {
			break
		}
	}
	assert.Equal(t, 1000, n)
	assert.Equal(t, int64(1), s.Stats().Items)
	_, _, ok := get(s, "keep")
	assert.True(t, ok)
}

func TestBackgroundSweeper(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{SweepInterval: time.Millisecond}, c)
	for i := range 100 {
		set(t, s, fmt.Sprint("k", i), "v", Meta{Expires: c.Unix() + 1})
	}
	c.Advance(2 * time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().Items != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	assert.Equal(t, int64(0), s.Stats().Items)
	assert.Equal(t, uint64(100), s.Stats().Reclaimed)
}

func TestFlushImmediate(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{}, c)
	for i := range 100 {
		set(t, s, fmt.Sprint("k", i), "v", Meta{})
	}
	s.Flush(c.Now())
	for i := range 100 {
		_, _, ok := get(s, fmt.Sprint("k", i))
		require.False(t, ok)
	}
	assert.Equal(t, int64(0), s.Stats().Items)
	// Items stored in the same second after the flush stay.
	m := set(t, s, "after", "v", Meta{})
	assert.Equal(t, uint64(101), m.CAS, "flush does not reset CAS")
	_, _, ok := get(s, "after")
	assert.True(t, ok)
	// A flush time in the past is immediate too.
	s.Flush(c.Now().Add(-time.Hour))
	_, _, ok = get(s, "after")
	assert.False(t, ok)
}

func TestFlushDelayed(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{}, c)
	set(t, s, "before", "v", Meta{})
	s.Flush(c.Now().Add(10 * time.Second))
	c.Advance(5 * time.Second)
	set(t, s, "during", "v", Meta{})
	_, _, ok := get(s, "before")
	assert.True(t, ok, "still visible before the deadline")
	var keys []string
	s.Range(func(k []byte, _ Meta, _ int) bool { keys = append(keys, string(k)); return true })
	assert.ElementsMatch(t, []string{"before", "during"}, keys)
	c.Advance(5 * time.Second)
	_, _, ok = get(s, "before")
	assert.False(t, ok)
	_, _, ok = get(s, "during")
	assert.False(t, ok, "items stored during the delay are flushed too")
	set(t, s, "later", "v", Meta{})
	_, _, ok = get(s, "later")
	assert.True(t, ok)
	assert.Equal(t, int64(1), s.Stats().Items)

	// A later flush replaces a pending one.
	s.Flush(c.Now().Add(10 * time.Second))
	s.Flush(c.Now().Add(20 * time.Second))
	c.Advance(15 * time.Second)
	_, _, ok = get(s, "later")
	assert.True(t, ok)
	c.Advance(5 * time.Second)
	_, _, ok = get(s, "later")
	assert.False(t, ok)
}

func TestRange(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{}, c)
	want := map[string]int{}
	for i := range 500 {
		k := fmt.Sprint("key", i)
		set(t, s, k, strings.Repeat("v", i), Meta{Flags: uint32(i)})
		want[k] = ItemSize(len(k), i)
	}
	set(t, s, "gone", "v", Meta{Expires: c.Unix() + 1})
	c.Advance(time.Second)
	got := map[string]int{}
	s.Range(func(k []byte, m Meta, size int) bool {
		got[string(k)] = size
		return true
	})
	assert.Equal(t, want, got)
	n := 0
	s.Range(func([]byte, Meta, int) bool { n++; return n < 10 })
	assert.Equal(t, 10, n, "Range stops when fn returns false")
}

func TestTooLarge(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{MaxBytes: 64 << 20}, c)
	set(t, s, "k", "old", Meta{})
	big := make([]byte, DefaultMaxItemSize-memcachedItemOverhead-1+1)
	_, err := s.Update([]byte("k"), func(*Entry) Op {
		return Op{Action: Put, Value: [][]byte{big}}
	})
	require.ErrorIs(t, err, ErrTooLarge)
	v, _, ok := get(s, "k")
	assert.True(t, ok, "the current item is left untouched")
	assert.Equal(t, "old", v)

	// The largest item, as memcached counts it, fits exactly.
	fit := bytes.Repeat([]byte{'x'}, DefaultMaxItemSize-memcachedItemOverhead-1)
	m, err := s.Update([]byte("k"), func(*Entry) Op { return Op{Action: Put, Value: [][]byte{fit}} })
	require.NoError(t, err)
	assert.Equal(t, uint64(2), m.CAS, "a refused store consumed no CAS")
	got := s.Get([]byte("k"), func(e *Entry) { assert.True(t, bytes.Equal(fit, e.Value)) })
	assert.True(t, got)
	assert.Equal(t, int64(ItemSize(1, len(fit))), s.Stats().Bytes)
}

func TestBigItemsFill(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{MaxBytes: 64 << 20}, c)
	val := bytes.Repeat([]byte{'b'}, 1<<20-100)
	for i := range 200 {
		val[0] = byte(i)
		_, err := s.Update([]byte(fmt.Sprint("big", i)), func(*Entry) Op { return Op{Action: Put, Value: [][]byte{val}} })
		require.NoError(t, err, i)
		ok := s.Get([]byte(fmt.Sprint("big", i)), func(e *Entry) {
			assert.Equal(t, byte(i), e.Value[0])
			assert.Len(t, e.Value, len(val))
		})
		require.True(t, ok, "newest write readable")
	}
	st := s.Stats()
	assert.LessOrEqual(t, st.Bytes, int64(64<<20))
	assert.Greater(t, st.Items, int64(32), "most of the memory holds big items")
	assert.LessOrEqual(t, st.ArenaBytes+st.IndexBytes, st.LimitBytes)
}

func TestClosed(t *testing.T) {
	s, err := New(Config{SweepInterval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Update([]byte("k"), func(*Entry) Op { return Op{Action: Put} })
	assert.True(t, errors.Is(err, ErrClosed))
	assert.False(t, s.Get([]byte("k"), nil))
	s.Flush(time.Now())
	s.Range(func([]byte, Meta, int) bool { t.Fatal("no items"); return false })
	assert.Equal(t, int64(0), s.Stats().Items)
}

// TestHotPathsDoNotAllocate: Get and an overwriting Put allocate nothing.
func TestHotPathsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	s := newStore(t, Config{}, nil)
	key := []byte("key:0000000000000001")
	put := Op{Action: Put, Value: [][]byte{make([]byte, 100)}}
	putFn := func(*Entry) Op { return put }
	_, err := s.Update(key, putFn)
	require.NoError(t, err)
	var n int
	getFn := func(e *Entry) { n += len(e.Value) }
	assert.Zero(t, testing.AllocsPerRun(1000, func() { s.Get(key, getFn) }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = s.Update(key, putFn) }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = s.Set(key, Meta{}, put.Value[0]) }))
	assert.Positive(t, n)
}

// TestSetIsUpdateWithPut runs the same writes as Set on one store and as
// an Update returning a Put on another: the same CAS uniques, errors,
// items and counters (a key overwritten live and expired, an explicit CAS,
// a value too large, a key too long, a closed store).
func TestSetIsUpdateWithPut(t *testing.T) {
	c := newClock()
	cfg := Config{MaxBytes: 2 << 20, MaxItemSize: 64 << 10}
	viaSet, viaUpdate := newStore(t, cfg, c), newStore(t, cfg, c)
	writes := []struct {
		key, value string
		m          Meta
		advance    time.Duration
	}{
		{key: "a", value: "1", m: Meta{Flags: 7, Expires: c.Unix() + 2}},
		{key: "a", value: "22", m: Meta{KeyBinary: true}},
		{key: "b", value: "3", m: Meta{Expires: c.Unix() + 1}},
		{key: "b", value: "44", m: Meta{CAS: 1000}, advance: 2 * time.Second},
		{key: "c", value: strings.Repeat("x", 64<<10)},
		{key: strings.Repeat("k", MaxKeyLength+1), value: "5"},
	}
	for _, w := range writes {
		c.Advance(w.advance)
		cas, err := viaSet.Set([]byte(w.key), w.m, []byte(w.value))
		m, uerr := viaUpdate.Update([]byte(w.key), func(*Entry) Op {
			return Op{Action: Put, Meta: w.m, Value: [][]byte{[]byte(w.value)}}
		})
		if cas != m.CAS || (err == nil) != (uerr == nil) || err != nil && err.Error() != uerr.Error() {
			t.Fatalf("write %q: Set %d %v, Update %d %v", w.key, cas, err, m.CAS, uerr)
		}
	}
	for _, key := range []string{"a", "b", "c"} {
		v1, m1, ok1 := get(viaSet, key)
		v2, m2, ok2 := get(viaUpdate, key)
		if v1 != v2 || m1 != m2 || ok1 != ok2 {
			t.Errorf("%s: via Set %q %+v %v, via Update %q %+v %v", key, v1, m1, ok1, v2, m2, ok2)
		}
	}
	if st1, st2 := viaSet.Stats(), viaUpdate.Stats(); st1 != st2 || st1.GetExpired != 1 {
		t.Errorf("stats via Set %+v, via Update %+v (one expired item overwritten)", st1, st2)
	}
	require.NoError(t, viaSet.Close())
	if _, err := viaSet.Set([]byte("a"), Meta{}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Set on a closed store: %v", err)
	}
}

// IndexLimit is what the shards' indexes may grow to, and stays within
// MaxBytes/8.
func TestIndexLimit(t *testing.T) {
	for _, m := range []int64{2 << 20, 64 << 20, 1 << 30} {
		s, err := New(Config{MaxBytes: m, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for i := range s.shards {
			sum += int64(s.shards[i].maxGroup) * bytesPerGroup
		}
		_ = s.Close()
		if got := IndexLimit(m, DefaultMaxItemSize); got != sum || got > m/indexShare {
			t.Errorf("-m %d: IndexLimit %d, shards' caps %d, MaxBytes/%d %d", m, got, sum, indexShare, m/indexShare)
		}
	}
}

// GetExpired counts the lookups, by Get or Update, that found their item
// expired, and nothing else.
func TestStatsGetExpired(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{}, c)
	set(t, s, "a", "1", Meta{Expires: c.Unix() + 1})
	set(t, s, "b", "1", Meta{Expires: c.Unix() + 1})
	set(t, s, "c", "1", Meta{})
	c.Advance(2 * time.Second)
	if _, _, ok := get(s, "a"); ok {
		t.Fatal("expired a found")
	}
	_, _, _ = get(s, "a")    // already reclaimed: a plain miss
	_, _, _ = get(s, "nope") // never there
	_, _, _ = get(s, "c")    // live
	_, err := s.Update([]byte("b"), func(e *Entry) Op {
		if e.Found {
			t.Error("expired b found by Update")
		}
		return Op{Action: Keep}
	})
	require.NoError(t, err)
	st := s.Stats()
	if st.GetExpired != 2 || st.Reclaimed != 2 {
		t.Fatalf("GetExpired %d Reclaimed %d, want 2 and 2", st.GetExpired, st.Reclaimed)
	}
}

// KeyBinary is kept in the item's bits: set by Put, kept by SetMeta and by
// moves, cleared by a Put without it.
func TestKeyBinaryBit(t *testing.T) {
	s := newStore(t, Config{}, newClock())
	m := set(t, s, "k", "v", Meta{KeyBinary: true, Stale: true})
	if !m.KeyBinary || !m.Stale {
		t.Fatalf("after Put: %+v", m)
	}
	_, err := s.Update([]byte("k"), func(e *Entry) Op {
		m := e.Meta
		m.Stale = false
		return Op{Action: SetMeta, Meta: m}
	})
	require.NoError(t, err)
	if _, m, _ := get(s, "k"); !m.KeyBinary || m.Stale {
		t.Fatalf("after SetMeta: %+v", m)
	}
	if m := set(t, s, "k", "v", Meta{}); m.KeyBinary {
		t.Fatalf("after a plain Put: %+v", m)
	}
}

// TestReadIsUpdateWithKeep runs the same reads as Read on one store and as
// an Update returning Keep (NoBump when the reader declines) on another:
// the same entries seen, hits, items (header bits included) and counters
// (a hit recorded and not, a miss, an expired key, a due delayed flush, a
// key too long, a closed store).
func TestReadIsUpdateWithKeep(t *testing.T) {
	c := newClock()
	cfg := Config{MaxBytes: 2 << 20}
	viaRead, viaUpdate := newStore(t, cfg, c), newStore(t, cfg, c)
	for _, s := range []*Store{viaRead, viaUpdate} {
		set(t, s, "a", "1", Meta{Flags: 7})
		set(t, s, "b", "22", Meta{Expires: c.Unix() + 3, KeyBinary: true})
		set(t, s, "c", "333", Meta{})
	}
	reads := []struct {
		key     string
		record  bool
		advance time.Duration
		flush   bool // a delayed flush, due after this read
	}{
		{key: "a", record: false, advance: 2 * time.Second},
		{key: "b", record: true},
		{key: "a", record: true, advance: time.Second},
		{key: "missing", record: true},
		{key: "b", record: true, advance: time.Second}, // expired
		{key: strings.Repeat("k", MaxKeyLength+1), record: true},
		{key: "c", record: false, flush: true},
		{key: "c", record: true, advance: 2 * time.Second}, // flushed
	}
	for i, r := range reads {
		c.Advance(r.advance)
		var fromRead, fromUpdate Entry
		hit := viaRead.Read([]byte(r.key), func(e *Entry) bool { fromRead = *e; fromRead.Value = bytes.Clone(e.Value); return r.record })
		m, err := viaUpdate.Update([]byte(r.key), func(e *Entry) Op {
			fromUpdate = *e
			fromUpdate.Value = bytes.Clone(e.Value)
			return Op{Action: Keep, NoBump: !r.record}
		})
		updateHit := err == nil && m != (Meta{})
		if hit != updateHit || !reflect.DeepEqual(fromRead, fromUpdate) {
			t.Errorf("read %d (%q): Read %v %+v, Update %v %+v", i, r.key, hit, fromRead, updateHit, fromUpdate)
		}
		if r.flush {
			viaRead.Flush(c.Now().Add(time.Second))
			viaUpdate.Flush(c.Now().Add(time.Second))
		}
		if a, b := itemStates(viaRead), itemStates(viaUpdate); !reflect.DeepEqual(a, b) {
			t.Errorf("after read %d (%q): items via Read %v, via Update %v", i, r.key, a, b)
		}
	}
	if st1, st2 := viaRead.Stats(), viaUpdate.Stats(); st1 != st2 || st1.GetExpired != 1 {
		t.Errorf("stats via Read %+v, via Update %+v (one expired item read)", st1, st2)
	}
	require.NoError(t, viaRead.Close())
	if viaRead.Read([]byte("a"), func(*Entry) bool { return true }) {
		t.Error("Read on a closed store found an item")
	}
}

// itemStates maps each live item's key to its header: metadata and bits.
func itemStates(s *Store) map[string]string {
	states := map[string]string{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.walk(func(off int) bool {
			if sh.buf[off+offBits]&bitDead == 0 {
				states[string(itemKey(sh.buf, off))] = fmt.Sprintf("%+v bits %08b", readMeta(sh.buf, off), sh.buf[off+offBits])
			}
			return true
		})
		sh.mu.Unlock()
	}
	return states
}
