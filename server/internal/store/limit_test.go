package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSetLimitKeepsHeldItemsAndBoundsNewWrites lowers the limit below what
// the store holds, then raises it again: held items stay, later writes use
// no more memory than held or allowed, and the raised limit is used again.
func TestSetLimitKeepsHeldItemsAndBoundsNewWrites(t *testing.T) {
	s := newStore(t, Config{MaxBytes: 64 << 20}, newClock())
	value := strings.Repeat("v", 4000)
	fill := func(prefix string, n int) {
		for i := range n {
			set(t, s, fmt.Sprint(prefix, i), value, Meta{})
		}
	}
	fill("held-", 2500) // about 10 MB
	require.NoError(t, s.SetLimit(8<<20))
	for i := range 2500 {
		_, _, ok := get(s, fmt.Sprint("held-", i))
		require.True(t, ok, "held-%d", i)
	}
	fill("new-", 10000) // about 40 MB
	require.Less(t, s.Stats().ArenaBytes, int64(20<<20))
	require.NotZero(t, s.Stats().Evictions)

	require.ErrorIs(t, s.SetLimit(65<<20), ErrLimitTooLarge)
	require.NoError(t, s.SetLimit(64<<20))
	fill("more-", 12000) // about 48 MB
	require.Greater(t, s.Stats().ArenaBytes, int64(40<<20))
}
