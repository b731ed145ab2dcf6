package store

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fillKept writes n items of valueLen bytes (keys key:%016d) and returns
// how many of them the store still holds.
func fillKept(t *testing.T, s *Store, n, valueLen int) int {
	t.Helper()
	value := make([]byte, valueLen)
	put := func(*Entry) Op { return Op{Action: Put, Value: [][]byte{value}} }
	for i := range n {
		_, err := s.Update(fmt.Appendf(nil, "key:%016d", i), put)
		require.NoError(t, err)
	}
	kept := 0
	for i := range n {
		if s.Get(fmt.Appendf(nil, "key:%016d", i), nil) {
			kept++
		}
	}
	return kept
}

// TestLargeItemsFillMemory: values written until the store is full twice
// over fill 64 MiB about as well as memcached's chunked items (63 of
// 1,048,326 bytes, 108 of 600,000, 124 of 524,288, 320 of 200,000: at
// least 95 % of that), within the memory bound.
func TestLargeItemsFillMemory(t *testing.T) {
	for _, tc := range []struct{ valueLen, memcached int }{
		{1_048_326, 63}, {600_000, 108}, {524_288, 124}, {200_000, 320},
	} {
		t.Run(fmt.Sprint(tc.valueLen), func(t *testing.T) {
			s := newStore(t, Config{MaxBytes: 64 << 20}, newClock())
			kept := fillKept(t, s, 2*(64<<20)/tc.valueLen, tc.valueLen)
			t.Logf("kept %d (memcached %d)", kept, tc.memcached)
			assert.GreaterOrEqual(t, kept*100, tc.memcached*95)
			st := s.Stats()
			assert.LessOrEqual(t, st.ArenaBytes+st.IndexBytes, st.LimitBytes)
		})
	}
}

// TestIndexTakesBackRingMemory: after large items took all of the rings,
// small ones need a larger index; the rings give the index the pages it
// needs, so the store soon holds about as many small items as a fresh one,
// and the memory bound holds throughout.
func TestIndexTakesBackRingMemory(t *testing.T) {
	const small, n = 20, 100_000
	fresh := newStore(t, Config{MaxBytes: 4 << 20, MaxItemSize: 64 << 10}, newClock())
	want := fillKept(t, fresh, n, small)

	s := newStore(t, Config{MaxBytes: 4 << 20, MaxItemSize: 64 << 10}, newClock())
	big := make([]byte, 60<<10)
	for i := range 2 * (4 << 20) / len(big) {
		_, err := s.Update(fmt.Appendf(nil, "big:%d", i), func(*Entry) Op { return Op{Action: Put, Value: [][]byte{big}} })
		require.NoError(t, err)
	}
	before := s.Stats()
	require.Greater(t, before.ArenaBytes, int64(3<<20), "the large items took the rings")
	got := fillKept(t, s, n, small)
	st := s.Stats()
	t.Logf("small items kept %d, fresh store %d; index %d -> %d bytes", got, want, before.IndexBytes, st.IndexBytes)
	assert.Greater(t, st.IndexBytes, 8*before.IndexBytes, "the index grew")
	assert.GreaterOrEqual(t, got*100, want*95)
	assert.LessOrEqual(t, st.ArenaBytes+st.IndexBytes, st.LimitBytes)
	for i := range s.shards {
		assert.Zero(t, indexMismatches(&s.shards[i]))
	}
}
