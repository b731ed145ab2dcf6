package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPurgeRemovesExactlyTheSelectedKeys fills the store, purges the keys
// ending in an odd digit and checks that exactly those are gone and the
// memory they held is released from the byte count.
func TestPurgeRemovesExactlyTheSelectedKeys(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 32 << 20}, newClock())
	const n = 20000
	for i := range n {
		set(t, s, fmt.Sprint("key-", i), "value", Meta{})
	}
	odd := func(k []byte) bool { return (k[len(k)-1]-'0')%2 == 1 }
	before := s.Stats().Bytes
	got, err := s.Purge(context.Background(), odd)
	require.NoError(t, err)
	require.Equal(t, n/2, got)
	for i := range n {
		_, _, ok := get(s, fmt.Sprint("key-", i))
		require.Equal(t, i%2 == 0, ok, "key-%d", i)
	}
	require.EqualValues(t, n/2, s.Stats().Items)
	require.Less(t, s.Stats().Bytes, before*6/10)
	again, err := s.Purge(context.Background(), odd)
	require.NoError(t, err)
	require.Zero(t, again)
}

// TestPurgeUnderConcurrentWrites purges "old" keys while writers add "new"
// ones, growing the indexes (rebuilds between chunks): every new key
// survives, no old key does once a pass ran after the last old write.
func TestPurgeUnderConcurrentWrites(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 64 << 20}, nil)
	for i := range 5000 {
		set(t, s, fmt.Sprint("old-", i), "v", Meta{})
	}
	var wg sync.WaitGroup
	var written atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			for i := range 10000 {
				set(t, s, fmt.Sprintf("new-%d-%d", w, i), "v", Meta{})
				written.Add(1)
			}
		})
	}
	isOld := func(k []byte) bool { return strings.HasPrefix(string(k), "old-") }
	purged := 0
	for written.Load() < 20000 {
		m, err := s.Purge(context.Background(), isOld)
		require.NoError(t, err)
		purged += m
	}
	wg.Wait()
	m, err := s.Purge(context.Background(), isOld)
	require.NoError(t, err)
	require.Equal(t, 5000, purged+m)
	require.EqualValues(t, 20000, s.Stats().Items)
	for w := range 2 {
		for i := range 10000 {
			_, _, ok := get(s, fmt.Sprintf("new-%d-%d", w, i))
			require.True(t, ok)
		}
	}
}

func TestPurgeStopsWithContext(t *testing.T) {
	s := newStore(t, Config{}, newClock())
	set(t, s, "k", "v", Meta{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := s.Purge(ctx, func([]byte) bool { return true })
	require.True(t, errors.Is(err, context.Canceled), "err %v", err)
	require.Zero(t, n)
	_, _, ok := get(s, "k")
	require.True(t, ok)
}
