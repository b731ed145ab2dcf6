package store

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rssBytes reads this process's resident set size from /proc.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return pages * int64(os.Getpagesize())
}

func heapInuse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestEvictionBoundsMemory writes five times MaxBytes and checks that the
// store's accounting, the Go heap and (without -race) the resident set stay
// within MaxBytes plus a fixed overhead, and that the newest writes survive.
func TestEvictionBoundsMemory(t *testing.T) {
	const maxBytes = 16 << 20
	heap0 := heapInuse()
	var rss0 int64
	if !raceEnabled {
		rss0 = rssBytes(t)
	}
	s := newStore(t, Config{MaxBytes: maxBytes}, newClock())
	val := bytes.Repeat([]byte{'v'}, 100)
	key := make([]byte, 0, 20)
	n := 5 * maxBytes / ItemSize(20, 100)
	put := Op{Action: Put, Value: [][]byte{val}}
	fn := func(*Entry) Op { return put }
	for i := range n {
		key = fmt.Appendf(key[:0], "key:%016d", i)
		_, err := s.Update(key, fn)
		require.NoError(t, err)
	}
	st := s.Stats()
	t.Logf("items %d bytes %d arena %d index %d evictions %d", st.Items, st.Bytes, st.ArenaBytes, st.IndexBytes, st.Evictions)
	assert.LessOrEqual(t, st.ArenaBytes+st.IndexBytes, int64(maxBytes))
	assert.LessOrEqual(t, st.Bytes, int64(maxBytes))
	assert.Greater(t, st.Evictions, uint64(3*n/5), "most writes were evicted")
	assert.Greater(t, st.Bytes, int64(maxBytes)*6/10, "the memory is used")
	for i := n - 1000; i < n; i++ {
		key = fmt.Appendf(key[:0], "key:%016d", i)
		require.True(t, s.Get(key, nil), "newest write %d readable", i)
	}
	// The arena lives outside the Go heap; the heap holds the indexes (at
	// most MaxBytes/8) and fixed structures.
	heapGrowth := heapInuse() - heap0
	t.Logf("heap growth %d", heapGrowth)
	assert.LessOrEqual(t, heapGrowth, int64(maxBytes/8+2<<20))
	if !raceEnabled {
		rssGrowth := rssBytes(t) - rss0
		t.Logf("rss growth %d", rssGrowth)
		assert.LessOrEqual(t, rssGrowth, int64(maxBytes+16<<20), "far below the 5x written")
	}
}

// TestLazyAllocation: a store with a large limit and few items touches
// little memory.
func TestLazyAllocation(t *testing.T) {
	var rss0 int64
	if !raceEnabled {
		rss0 = rssBytes(t)
	}
	s := newStore(t, Config{MaxBytes: 1 << 30}, newClock())
	for i := range 10 {
		set(t, s, fmt.Sprint("k", i), "value", Meta{})
	}
	st := s.Stats()
	assert.Less(t, st.ArenaBytes, int64(4096))
	assert.Less(t, st.IndexBytes, int64(256*1024), "indexes start small")
	if !raceEnabled {
		assert.Less(t, rssBytes(t)-rss0, int64(16<<20), "1 GiB limit, 10 items")
	}
}

// TestOverwritesReuseTouchedMemory: a few keys overwritten over and over
// keep each shard's ring within minRing of touched memory, not the whole
// budget; then a flood of new keys grows the rings back to the budget
// with nothing evicted.
func TestOverwritesReuseTouchedMemory(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 64 << 20}, nil)
	require.Len(t, s.shards, 4)
	val := func(k, i int) string { return fmt.Sprintf("%-100d", k*1_000_000+i) }
	const keys, writes = 200, 200_000 // 27 MB written, about twice the rings
	for i := range writes {
		set(t, s, fmt.Sprint("k", i%keys), val(i%keys, i), Meta{})
	}
	st := s.Stats()
	assert.LessOrEqual(t, st.ArenaBytes, int64(len(s.shards)*minRing), "rings wrap within touched memory")
	assert.Zero(t, st.Evictions)
	for k := range keys {
		v, _, ok := get(s, fmt.Sprint("k", k))
		require.True(t, ok, "key %d", k)
		assert.Equal(t, val(k, writes-keys+k), v)
	}
	const more = 150_000 // 20 MB of new live items: the rings must grow
	for i := range more {
		set(t, s, fmt.Sprint("n", i), val(i, 0), Meta{})
	}
	st = s.Stats()
	assert.Zero(t, st.Evictions)
	assert.Equal(t, int64(keys+more), st.Items)
	assert.Greater(t, st.ArenaBytes, int64(16*len(s.shards)*minRing))
}

// TestEvictionIsLRULike: keys read regularly survive a flood of writes that
// evicts keys of the same age that are never read, which FIFO would not do.
func TestEvictionIsLRULike(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 2 << 20, MaxItemSize: 1 << 10}, newClock())
	val := bytes.Repeat([]byte{'v'}, 100)
	put := func(k string) {
		_, err := s.Update([]byte(k), func(*Entry) Op { return Op{Action: Put, Value: [][]byte{val}} })
		require.NoError(t, err)
	}
	const hot = 1000
	for i := range hot {
		put(fmt.Sprint("hot", i))
		put(fmt.Sprint("cold", i))
	}
	capacity := int(2<<20) / ItemSize(10, 100)
	for i := range 10 * capacity {
		put(fmt.Sprint("filler", i))
		if i%(capacity/4) == 0 {
			for j := range hot {
				s.Get([]byte(fmt.Sprint("hot", j)), nil)
			}
		}
	}
	hotLeft, coldLeft := 0, 0
	for i := range hot {
		if s.Get([]byte(fmt.Sprint("hot", i)), nil) {
			hotLeft++
		}
		if s.Get([]byte(fmt.Sprint("cold", i)), nil) {
			coldLeft++
		}
	}
	t.Logf("hot %d/%d cold %d/%d evictions %d", hotLeft, hot, coldLeft, hot, s.Stats().Evictions)
	assert.Greater(t, hotLeft, hot*9/10)
	assert.Less(t, coldLeft, hot/10)
}

// TestIndexLimitEvicts: tiny items exhaust the index share before the ring;
// the store then evicts by count and stays within bounds.
func TestIndexLimitEvicts(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 64 << 10, MaxItemSize: 1 << 10}, newClock())
	const n = 20000
	for i := range n {
		k := []byte(fmt.Sprint(i))
		_, err := s.Update(k, func(*Entry) Op { return Op{Action: Put} })
		require.NoError(t, err)
		if i%3 == 0 {
			s.Get([]byte(fmt.Sprint(i/2)), nil)
		}
	}
	st := s.Stats()
	t.Logf("items %d arena %d index %d", st.Items, st.ArenaBytes, st.IndexBytes)
	assert.LessOrEqual(t, st.IndexBytes, st.LimitBytes/indexShare)
	assert.LessOrEqual(t, st.ArenaBytes+st.IndexBytes, st.LimitBytes)
	assert.Equal(t, uint64(n)-uint64(st.Items), st.Evictions)
	assert.True(t, s.Get([]byte(fmt.Sprint(n-1)), nil))
	for i := range s.shards {
		assert.Zero(t, indexMismatches(&s.shards[i]))
	}
	assert.LessOrEqual(t, st.Items, int64(len(s.shards)*s.shards[0].maxItems))
	assert.Less(t, st.Bytes, int64(len(s.shards)*len(s.shards[0].buf))*9/10, "the index, not the ring, was the limit")
}

// TestAppendPrependAtWrap appends and prepends through parts that alias the
// old value while the new item needs the space of the old one: the ring
// wraps and evicts the old item (or moves it, if read) under the copy.
func TestAppendPrependAtWrap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepend bool
		read    bool
	}{{"append", false, false}, {"prepend", true, false}, {"append-read", false, true}, {"prepend-read", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			// One shard: a 1808-byte ring.
			s := newStore(t, Config{MaxBytes: 2048, MaxItemSize: 1024}, newClock())
			require.Len(t, s.shards, 1)
			old := make([]byte, 600)
			for i := range old {
				old[i] = byte(i)
			}
			add := bytes.Repeat([]byte{0xEE}, 300)
			_, err := s.Update([]byte("a"), func(*Entry) Op { return Op{Action: Put, Value: [][]byte{old}} })
			require.NoError(t, err)
			_, err = s.Update([]byte("b"), func(*Entry) Op { return Op{Action: Put, Value: [][]byte{old}} })
			require.NoError(t, err)
			if tc.read {
				require.True(t, s.Get([]byte("a"), nil))
			}
			sh := &s.shards[0]
			require.False(t, sh.fitsNow(ItemSize(1, 900)), "the new item needs eviction")
			_, err = s.Update([]byte("a"), func(e *Entry) Op {
				require.True(t, e.Found)
				parts := [][]byte{e.Value, add}
				if tc.prepend {
					parts = [][]byte{add, e.Value}
				}
				return Op{Action: Put, Value: parts}
			})
			require.NoError(t, err)
			want := append(append([]byte(nil), old...), add...)
			if tc.prepend {
				want = append(append([]byte(nil), add...), old...)
			}
			require.True(t, s.Get([]byte("a"), func(e *Entry) {
				assert.True(t, bytes.Equal(want, e.Value), "value intact")
			}))
			assert.True(t, sh.wrapped || sh.head == 0, "the ring wrapped")
			assert.Equal(t, int64(1), s.Stats().Items, "b was evicted to make room")
		})
	}
}

// TestSetMetaReadCountsAsUse: a read recorded through SetMeta (as the meta
// protocol's touch-and-get does) protects the item from eviction like Get.
func TestSetMetaReadCountsAsUse(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{MaxBytes: 2 << 20, MaxItemSize: 1 << 10}, c)
	val := bytes.Repeat([]byte{'v'}, 100)
	put := Op{Action: Put, Value: [][]byte{val}}
	fn := func(*Entry) Op { return put }
	const hot = 500
	for i := range hot {
		_, err := s.Update([]byte(fmt.Sprint("hot", i)), fn)
		require.NoError(t, err)
	}
	capacity := int(2<<20) / ItemSize(10, 100)
	for i := range 5 * capacity {
		_, err := s.Update([]byte(fmt.Sprint("filler", i)), fn)
		require.NoError(t, err)
		if i%(capacity/4) == 0 {
			c.Advance(time.Second)
			for j := range hot {
				_, err := s.Update([]byte(fmt.Sprint("hot", j)), func(e *Entry) Op {
					if !e.Found {
						return Op{Action: Keep, NoBump: true}
					}
					m := e.Meta
					m.Accessed, m.Fetched = c.Unix(), true
					return Op{Action: SetMeta, Meta: m}
				})
				require.NoError(t, err)
			}
		}
	}
	left := 0
	for i := range hot {
		if s.Get([]byte(fmt.Sprint("hot", i)), nil) {
			left++
		}
	}
	assert.Greater(t, left, hot*9/10)
}

// TestFlushReleasesMemory: an immediate flush returns the arenas' pages.
func TestFlushReleasesMemory(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{MaxBytes: 64 << 20}, c)
	put := Op{Action: Put, Value: [][]byte{bytes.Repeat([]byte{'v'}, 1000)}}
	fn := func(*Entry) Op { return put }
	for i := range 40_000 {
		_, err := s.Update(fmt.Appendf(nil, "k%d", i), fn)
		require.NoError(t, err)
	}
	require.Greater(t, s.Stats().ArenaBytes, int64(32<<20))
	var full int64
	if !raceEnabled {
		full = rssBytes(t)
	}
	s.Flush(c.Now())
	st := s.Stats()
	assert.Zero(t, st.ArenaBytes)
	assert.Zero(t, st.Items)
	if !raceEnabled {
		released := full - rssBytes(t)
		t.Logf("released %d bytes", released)
		assert.Greater(t, released, int64(24<<20))
	}
}
