package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// block is the 16-byte unit every value of key k is made of, so a read can
// tell whether any byte came from another item.
func block(k int) []byte { return fmt.Appendf(nil, "<key%010d>", k) }

// checkBlocks returns an error unless v is made only of key k's blocks.
func checkBlocks(k int, v []byte) error {
	b := block(k)
	if len(v)%len(b) != 0 {
		return fmt.Errorf("key %d: value length %d", k, len(v))
	}
	for i := 0; i < len(v); i += len(b) {
		if !bytes.Equal(v[i:i+len(b)], b) {
			return fmt.Errorf("key %d: corrupt block %q", k, v[i:i+len(b)])
		}
	}
	return nil
}

// TestConcurrentMixedOps runs goroutines doing every operation on a small,
// constantly evicting store, under -race in CI. Every value read must be
// made only of its own key's blocks, CAS uniques must be distinct and
// increasing per goroutine, and the accounting must stay within bounds.
func TestConcurrentMixedOps(t *testing.T) {
	c := newClock()
	s := newStore(t, Config{MaxBytes: 256 << 10, MaxItemSize: 4 << 10, SweepInterval: time.Millisecond}, c)
	const workers, ops, keys = 8, 4000, 1000
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			var lastCAS uint64
			for range ops {
				k := r.IntN(keys)
				key := fmt.Appendf(nil, "k%d", k)
				var err error
				switch op := r.IntN(100); {
				case op < 40:
					s.Get(key, func(e *Entry) { err = checkBlocks(k, e.Value) })
				case op < 70:
					var m Meta
					n := 1 + r.IntN(64)
					m, err = s.Update(key, func(e *Entry) Op {
						parts := [][]byte{bytes.Repeat(block(k), n)}
						if e.Found && len(e.Value) < 2048 {
							if err := checkBlocks(k, e.Value); err != nil {
								return Op{Action: Keep}
							}
							parts = append(parts, e.Value) // prepend, aliasing
						}
						var exp int64
						if r.IntN(4) == 0 {
							exp = c.Unix() + int64(r.IntN(3))
						}
						return Op{Action: Put, Meta: Meta{Expires: exp}, Value: parts}
					})
					if err == nil && m.CAS <= lastCAS {
						err = fmt.Errorf("CAS went from %d to %d", lastCAS, m.CAS)
					}
					lastCAS = m.CAS
				case op < 80:
					_, err = s.Update(key, func(e *Entry) Op { return Op{Action: Delete} })
				case op < 90:
					_, err = s.Update(key, func(e *Entry) Op {
						if !e.Found {
							return Op{Action: Keep}
						}
						m := e.Meta
						m.Flags++
						return Op{Action: SetMeta, Meta: m}
					})
				case op < 94:
					s.Range(func(k []byte, m Meta, size int) bool { return size > 0 })
				case op < 97:
					st := s.Stats()
					if st.ArenaBytes+st.IndexBytes > st.LimitBytes {
						err = fmt.Errorf("over the limit: %+v", st)
					}
				case op < 98 && r.IntN(4) == 0:
					c.Advance(time.Second)
				case r.IntN(200) == 0:
					s.Flush(c.Now().Add(time.Duration(r.IntN(2)) * time.Second))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := s.Stats()
	t.Logf("%+v", st)
	assert.NotZero(t, st.Evictions)
	assert.LessOrEqual(t, st.Bytes, st.LimitBytes)
}
