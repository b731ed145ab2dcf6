package store

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is an injectable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Unix() int64 { return c.Now().Unix() }

// newStore creates a store with the test clock and no sweeper, closed at
// the end of the test.
func newStore(t testing.TB, cfg Config, c *clock) *Store {
	t.Helper()
	if c != nil {
		cfg.Now = c.Now
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = -1
	}
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// set stores value under key with meta m.
func set(t testing.TB, s *Store, key string, value string, m Meta) Meta {
	t.Helper()
	got, err := s.Update([]byte(key), func(*Entry) Op {
		return Op{Action: Put, Meta: m, Value: [][]byte{[]byte(value)}}
	})
	require.NoError(t, err)
	return got
}

// get returns the value and meta of key, and whether it was found.
func get(s *Store, key string) (string, Meta, bool) {
	var v string
	var m Meta
	ok := s.Get([]byte(key), func(e *Entry) {
		v = string(e.Value)
		m = e.Meta
	})
	return v, m, ok
}

// indexMismatches is how far a shard's ring and index disagree: the live
// items of the ring the index does not point at, plus the difference
// between the index's count and the ring's live items.
func indexMismatches(sh *shard) int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	live, missing := 0, 0
	sh.walk(func(off int) bool {
		if sh.buf[off+offBits]&bitDead == 0 {
			live++
			if _, ok := sh.ix.slotOf(hashKey(itemKey(sh.buf, off)), uint32(off)); !ok {
				missing++
			}
		}
		return true
	})
	return missing + max(live-sh.ix.count, sh.ix.count-live)
}

// writeHeld stores value under key in one hold of the shard lock, as
// Update does before it tidies.
func writeHeld(t testing.TB, s *Store, key, value string) {
	t.Helper()
	h := hashKey([]byte(key))
	_, _, err := s.shardOf(h).update(s, h, []byte(key), func(*Entry) Op {
		return Op{Action: Put, Value: [][]byte{[]byte(value)}}
	})
	require.NoError(t, err)
}
