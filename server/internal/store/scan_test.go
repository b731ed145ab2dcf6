package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestScanListsEveryLiveItemOnceWithNoLockHeldBetweenChunks lists a store
// with expired and deleted items; between chunks, flush reads the store,
// which would deadlock if a shard lock were still held.
func TestScanListsEveryLiveItemOnceWithNoLockHeldBetweenChunks(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{MaxBytes: 32 << 20}, c)
	const n = 20000
	for i := range n {
		m := Meta{}
		if i%10 == 0 {
			m.Expires = c.Unix() + 1
		}
		set(t, s, fmt.Sprint("key-", i), "value", m)
	}
	for i := 1; i < n; i += 10 {
		_, err := s.Update([]byte(fmt.Sprint("key-", i)), func(*Entry) Op { return Op{Action: Delete} })
		require.NoError(t, err)
	}
	c.Advance(2 * time.Second)
	seen := map[string]int{}
	flushes := 0
	s.Scan(func(key []byte, _ Meta, size int) {
		seen[string(key)]++
		require.Equal(t, ItemSize(len(key), len("value")), size)
	}, func() bool {
		flushes++
		_, _, _ = get(s, "key-2")
		return true
	})
	require.Len(t, seen, n*8/10)
	for k, times := range seen {
		require.Equal(t, 1, times, k)
	}
	require.Greater(t, flushes, 1)

	stopped := 0
	s.Scan(func([]byte, Meta, int) {}, func() bool { stopped++; return false })
	require.Equal(t, 1, stopped, "flush returning false stops the scan")
}
