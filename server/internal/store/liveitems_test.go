package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// overwriteWorkload is the workload: live items of 4 KiB values
// filling share of MaxBytes (in value bytes), each written once and then
// overwritten at random, three times the item count over, with no reads.
type overwriteWorkload struct {
	maxBytes int64
	share    float64 // live value bytes / maxBytes
	valueLen int
	rounds   int // overwrites per item, on average
}

func (w overwriteWorkload) items() int {
	return int(w.share * float64(w.maxBytes) / float64(w.valueLen))
}

// keptShare runs w against a fresh store and returns the fraction of the
// live items still present at the end.
func (w overwriteWorkload) keptShare(t testing.TB) float64 {
	s := newStore(t, Config{MaxBytes: w.maxBytes}, nil)
	n := w.items()
	val := make([]byte, w.valueLen)
	put := func(*Entry) Op { return Op{Action: Put, Value: [][]byte{val}} }
	key := make([]byte, 0, 32)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n * (1 + w.rounds) {
		k := i
		if i >= n {
			k = rng.IntN(n)
		}
		key = fmt.Appendf(key[:0], "key:%016d", k)
		_, err := s.Update(key, put)
		require.NoError(t, err)
	}
	kept := 0
	for i := range n {
		key = fmt.Appendf(key[:0], "key:%016d", i)
		if s.Get(key, nil) {
			kept++
		}
	}
	return float64(kept) / float64(n)
}

// TestOverwritesKeepLiveItems: with live data at half of MaxBytes and the
// rest of the memory holding dead, overwritten copies, no live item is
// evicted (memcached keeps them all too).
func TestOverwritesKeepLiveItems(t *testing.T) {
	w := overwriteWorkload{maxBytes: 64 << 20, share: 0.5, valueLen: 4096, rounds: 3}
	kept := w.keptShare(t)
	t.Logf("kept %.2f %% of %d live items at %.0f %% of MaxBytes", 100*kept, w.items(), 100*w.share)
	assert.GreaterOrEqual(t, kept, 1.0)
}

// BenchmarkOverwritesKeepLiveItems reports the share of live items kept by
// the overwrite workload at 25, 50, 75 and 90 % of MaxBytes (-m 64). The
// server package's BenchmarkLiveItemsKept runs it against memcached.
func BenchmarkOverwritesKeepLiveItems(b *testing.B) {
	for _, share := range []float64{0.25, 0.5, 0.75, 0.9} {
		b.Run(fmt.Sprintf("live=%.0f%%", 100*share), func(b *testing.B) {
			w := overwriteWorkload{maxBytes: 64 << 20, share: share, valueLen: 4096, rounds: 3}
			var kept float64
			for range b.N {
				kept = w.keptShare(b)
			}
			b.ReportMetric(100*kept, "%kept")
		})
	}
}

// TestCompactionWorkPerWriteIsBounded: with live data below the compaction
// share but the dead items all behind a long run of live ones, a write
// copies at most sliceItems items forward under its lock and then evicts,
// rather than copying on until it reaches the dead ones.
func TestCompactionWorkPerWriteIsBounded(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 4 << 20}, nil)
	require.Len(t, s.shards, 1)
	sh := &s.shards[0]
	size := ItemSize(len("key:0000000000000000"), 100)
	key := func(i int) string { return fmt.Sprintf("key:%016d", i) }
	val := string(make([]byte, 100))
	fits := func() bool {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return sh.fitsNow(size)
	}
	n := 0
	for ; fits(); n++ { // fills the ring, without tidying: the next item does not fit
		writeHeld(t, s, key(n), val)
	}
	require.Greater(t, n*9/10, sliceItems, "the live run is longer than the budget")
	for i := n * 9 / 10; i < n; i++ { // the newest tenth dies: live data is 90 % of the ring
		_, err := s.Update([]byte(key(i)), func(*Entry) Op { return Op{Action: Delete} })
		require.NoError(t, err)
	}
	require.Zero(t, s.Stats().Evictions)
	writeHeld(t, s, key(n), val) // no room at the end: the ring wraps onto the oldest items
	st := s.Stats()
	assert.Equal(t, uint64(1), st.Evictions, "the budget ran out before the dead items")
	assert.Equal(t, int64(n*9/10), st.Items)
	_, _, ok := get(s, key(sliceItems))
	assert.False(t, ok, "the first item past the budget was evicted")
	_, _, ok = get(s, key(0))
	assert.True(t, ok, "items within the budget were copied forward, not evicted")
}

// TestConcurrentOverwritesEvictNothing: goroutines overwrite (keeping part
// of the old value, which aliases the ring) and read keys whose live data
// is about half of the rings, so the rings are compacted all the time:
// nothing may be evicted, and every value read must be made only of its
// own key's blocks.
func TestConcurrentOverwritesEvictNothing(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 1 << 20, MaxItemSize: 32 << 10}, nil)
	require.Len(t, s.shards, 2)
	const workers, ops, keys = 8, 8000, 2700 // 8 blocks a value: live data is about half the rings
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			r := rand.New(rand.NewPCG(uint64(w), 11))
			errs <- overwriteAndRead(s, r, ops, keys)
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	st := s.Stats()
	assert.Zero(t, st.Evictions)
	assert.Equal(t, int64(keys), st.Items)
	for k := range keys {
		found := s.Get(fmt.Appendf(nil, "k%d", k), func(e *Entry) {
			assert.NoError(t, checkBlocks(k, e.Value))
		})
		assert.True(t, found, "key %d", k)
	}
}

// overwriteAndRead is one worker of TestConcurrentOverwritesEvictNothing.
func overwriteAndRead(s *Store, r *rand.Rand, ops, keys int) error {
	for i := range ops {
		k := r.IntN(keys)
		if i < keys {
			k = i // every key is written at least once
		}
		key := fmt.Appendf(nil, "k%d", k)
		var err error
		if r.IntN(3) == 0 {
			s.Get(key, func(e *Entry) { err = checkBlocks(k, e.Value) })
		} else {
			_, err = s.Update(key, func(e *Entry) Op {
				kept := 0
				if e.Found {
					kept = min(len(e.Value), r.IntN(8)*len(block(k)))
				}
				parts := [][]byte{bytes.Repeat(block(k), 8-kept/len(block(k))), e.Value[:kept]} // the old value's part aliases the ring
				return Op{Action: Put, Value: parts}
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// TestTidyCopiesInSlices: freeing room behind a long run of live items
// takes many holds of the lock, none of which copies more than sliceItems
// items and max(sliceBytes, one item) bytes, and evicts nothing live.
func TestTidyCopiesInSlices(t *testing.T) {
	for _, valueLen := range []int{100, 300 << 10} {
		t.Run(fmt.Sprint(valueLen), func(t *testing.T) {
			s := newStore(t, Config{MaxBytes: 16 << 20}, nil)
			require.Len(t, s.shards, 1)
			sh := &s.shards[0]
			size := ItemSize(len("key:0000000000000000"), valueLen)
			val := string(make([]byte, valueLen))
			key := func(i int) string { return fmt.Sprintf("key:%016d", i) }
			fits := func() bool {
				sh.mu.Lock()
				defer sh.mu.Unlock()
				return sh.fitsNow(size)
			}
			n := 0
			for ; fits(); n++ { // fills the ring, without tidying
				writeHeld(t, s, key(n), val)
			}
			for i := n * 9 / 10; i < n; i++ { // the newest tenth dies: live data is 90 % of the ring
				_, err := s.Update([]byte(key(i)), func(*Entry) Op { return Op{Action: Delete} })
				require.NoError(t, err)
			}
			want := n / 20 * size // the dead tenth is behind 90 % of live items
			slices := 0
			for done := false; !done; slices++ {
				sh.mu.Lock()
				steps := sh.steps
				var copied int
				copied, done = sh.tidySlice(want, 0)
				assert.LessOrEqual(t, sh.steps-steps, uint64(sliceItems))
				assert.LessOrEqual(t, copied, max(sliceBytes, size))
				sh.mu.Unlock()
			}
			t.Logf("%d items, %d slices", n, slices)
			assert.Greater(t, slices, 2, "the copy took several holds of the lock")
			assert.Zero(t, s.Stats().Evictions)
			sh.mu.Lock()
			assert.True(t, sh.fitsNow(want))
			sh.mu.Unlock()
			assert.Equal(t, int64(n*9/10), s.Stats().Items)
		})
	}
}
