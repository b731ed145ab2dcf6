package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// snapshotOf fills a store with n items (every third expiring in 10 s) and
// returns its snapshot and the store.
func snapshotOf(t *testing.T, c *clock, n int) ([]byte, *Store) {
	t.Helper()
	s := newStore(t, Config{MaxBytes: 8 << 20}, c)
	for i := range n {
		m := Meta{Flags: uint32(i)}
		if i%3 == 0 {
			m.Expires = c.Unix() + 10
		}
		set(t, s, fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i), m)
	}
	var buf bytes.Buffer
	written, err := s.WriteSnapshot(context.Background(), &buf)
	require.NoError(t, err)
	require.Equal(t, n, written)
	return buf.Bytes(), s
}

func TestSnapshotRoundTripKeepsValuesFlagsExpiryAndCAS(t *testing.T) {
	c := newClock()
	snap, old := snapshotOf(t, c, 1000)
	set(t, old, "deleted-before-save", "x", Meta{}) // CAS handed out after the snapshot: not in it
	c.Advance(5 * time.Second)

	s := newStore(t, Config{MaxBytes: 8 << 20}, c)
	st, err := s.ReadSnapshot(context.Background(), bytes.NewReader(snap))
	require.NoError(t, err)
	require.Equal(t, 1000, st.Loaded)
	for i := range 1000 {
		key := fmt.Sprintf("key-%d", i)
		want, wm, _ := get(old, key)
		v, m, ok := get(s, key)
		require.True(t, ok, key)
		require.Equal(t, want, v)
		require.Equal(t, wm.Flags, m.Flags)
		require.Equal(t, wm.CAS, m.CAS)
		require.Equal(t, wm.Expires, m.Expires)
	}
	next := set(t, s, "new", "v", Meta{})
	require.Equal(t, uint64(1001), next.CAS, "the counter continues after the highest CAS saved")
}

func TestSnapshotDropsItemsExpiredSinceTheSave(t *testing.T) {
	c := newClock()
	snap, _ := snapshotOf(t, c, 300)
	c.Advance(11 * time.Second)
	s := newStore(t, Config{MaxBytes: 8 << 20}, c)
	st, err := s.ReadSnapshot(context.Background(), bytes.NewReader(snap))
	require.NoError(t, err)
	require.Equal(t, 100, st.Expired)
	require.Equal(t, 200, st.Loaded)
	_, _, ok := get(s, "key-0")
	require.False(t, ok)
	require.Equal(t, int64(200), s.Stats().Items)
}

func TestSnapshotTruncatedOrCorruptLoadsNothing(t *testing.T) {
	c := newClock()
	snap, _ := snapshotOf(t, c, 50)
	s := newStore(t, Config{MaxBytes: 8 << 20}, c)
	for cut := 0; cut < len(snap); cut += 7 {
		_, err := s.ReadSnapshot(context.Background(), bytes.NewReader(snap[:cut]))
		require.ErrorIs(t, err, ErrBadSnapshot, "cut at %d of %d", cut, len(snap))
		require.Equal(t, int64(0), s.Stats().Items, "cut at %d", cut)
	}
	for _, at := range []int{0, snapHeaderSize + 30, len(snap) / 2, len(snap) - 1} {
		bad := bytes.Clone(snap)
		bad[at] ^= 0x40
		_, err := s.ReadSnapshot(context.Background(), bytes.NewReader(bad))
		require.True(t, errors.Is(err, ErrBadSnapshot), "byte %d flipped: %v", at, err)
		require.Equal(t, int64(0), s.Stats().Items, "byte %d flipped", at)
	}
	_, err := s.ReadSnapshot(context.Background(), bytes.NewReader(append(bytes.Clone(snap), 0)))
	require.ErrorIs(t, err, ErrBadSnapshot)
}

func TestSnapshotSkipsItemsLargerThanTheNewLimit(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{MaxBytes: 8 << 20, MaxItemSize: 1 << 20}, c)
	set(t, s, "big", string(make([]byte, 4000)), Meta{})
	set(t, s, "small", "v", Meta{})
	var buf bytes.Buffer
	_, err := s.WriteSnapshot(context.Background(), &buf)
	require.NoError(t, err)
	small := newStore(t, Config{MaxBytes: 8 << 20, MaxItemSize: 2048}, c)
	st, err := small.ReadSnapshot(context.Background(), &buf)
	require.NoError(t, err)
	require.Equal(t, 1, st.Loaded)
	require.Equal(t, 1, st.Skipped)
}

// BenchmarkSnapshot writes and reads back a snapshot of 1,000,000 items of
// 100 bytes in memory: the store's share of a warm restart.
func BenchmarkSnapshot(b *testing.B) {
	const n = 1_000_000
	src, err := New(Config{MaxBytes: 1 << 30, SweepInterval: -1})
	require.NoError(b, err)
	defer src.Close()
	value := bytes.Repeat([]byte("v"), 100)
	for i := range n {
		_, err := src.Update([]byte(fmt.Sprintf("key:%d", i)), func(*Entry) Op { return Op{Action: Put, Value: [][]byte{value}} })
		require.NoError(b, err)
	}
	var buf bytes.Buffer
	b.ResetTimer()
	for range b.N {
		buf.Reset()
		start := time.Now()
		_, err := src.WriteSnapshot(context.Background(), &buf)
		require.NoError(b, err)
		write := time.Since(start)
		dst, err := New(Config{MaxBytes: 1 << 30, SweepInterval: -1})
		require.NoError(b, err)
		start = time.Now()
		st, err := dst.ReadSnapshot(context.Background(), bytes.NewReader(buf.Bytes()))
		require.NoError(b, err)
		require.Equal(b, n, st.Loaded)
		b.ReportMetric(write.Seconds(), "write-s")
		b.ReportMetric(time.Since(start).Seconds(), "read-s")
		require.NoError(b, dst.Close())
	}
}

func TestSnapshotKeepsAPendingDelayedFlush(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{MaxBytes: 8 << 20}, c)
	set(t, s, "forever", "v", Meta{})
	set(t, s, "late", "v", Meta{Expires: c.Unix() + 100})
	s.Flush(c.Now().Add(10 * time.Second))
	var buf bytes.Buffer
	_, err := s.WriteSnapshot(context.Background(), &buf)
	require.NoError(t, err)
	snap := buf.Bytes()

	before := newStore(t, Config{MaxBytes: 8 << 20}, c)
	st, err := before.ReadSnapshot(context.Background(), bytes.NewReader(snap))
	require.NoError(t, err)
	require.Equal(t, 2, st.Loaded, "loaded before the flush is due")
	c.Advance(10 * time.Second)
	_, _, ok := get(before, "forever")
	require.False(t, ok, "the flush pending at the save still empties the items when due")
	after := newStore(t, Config{MaxBytes: 8 << 20}, c)
	st, err = after.ReadSnapshot(context.Background(), bytes.NewReader(snap))
	require.NoError(t, err)
	require.Equal(t, 2, st.Expired)
}
