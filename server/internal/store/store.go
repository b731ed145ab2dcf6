package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Store is a memory-bounded item store, safe for concurrent use. Create it
// with New and release it with Close.
type Store struct {
	shards      []shard
	mask        uint64
	now         func() time.Time
	maxBytes    int64
	maxItemSize int

	cas atomic.Uint64 // last CAS unique handed out

	coarse bool          // nowSec reads sec instead of calling now
	sec    atomic.Uint32 // coarse clock: Unix seconds, updated by clockLoop

	stop      chan struct{}
	bg        sync.WaitGroup // background goroutines
	closeOnce sync.Once
	closeErr  error
}

// New creates a Store. It reserves address space for MaxBytes but touches
// memory only as items are written.
func New(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n, maxGroups, budget := layout(cfg.MaxBytes, cfg.MaxItemSize)
	s := &Store{
		shards:      make([]shard, n),
		mask:        uint64(n - 1),
		now:         cfg.Now,
		maxBytes:    cfg.MaxBytes,
		maxItemSize: cfg.MaxItemSize,
		coarse:      isSystemClock(cfg.Now),
		stop:        make(chan struct{}),
	}
	for i := range s.shards {
		buf, err := mapArena(budget)
		if err != nil {
			for j := range i {
				_ = unmapArena(s.shards[j].buf)
			}
			return nil, err
		}
		s.shards[i].init(buf, maxGroups)
	}
	if s.coarse {
		s.sec.Store(toU32Time(time.Now().Unix()))
		s.bg.Add(1)
		go s.clockLoop()
	}
	if cfg.SweepInterval > 0 {
		s.bg.Add(1)
		go s.sweepLoop(cfg.SweepInterval)
	}
	return s, nil
}

func (s *Store) nextCAS() uint64 { return s.cas.Add(1) }

func (s *Store) shardOf(h uint64) *shard { return &s.shards[h&s.mask] }

// Update runs fn atomically for key and applies the Op it returns. fn runs
// under the key's shard lock: it must be short, must not call the Store, and
// must not keep the Entry. Update returns the resulting item's Meta (zero
// after Delete or on a miss), or ErrKeyTooLong or ErrTooLarge, leaving the
// item untouched.
func (s *Store) Update(key []byte, fn func(e *Entry) Op) (Meta, error) {
	if len(key) > MaxKeyLength {
		return Meta{}, ErrKeyTooLong
	}
	h := hashKey(key)
	sh := s.shardOf(h)
	m, room, err := sh.update(s, h, key, fn)
	if room > 0 {
		sh.tidy(s, room)
	}
	return m, err
}

// update is Update under the shard lock. It also returns the room to free
// ahead of the next writes (tidy), if any.
func (sh *shard) update(s *Store, h uint64, key []byte, fn func(e *Entry) Op) (Meta, int, error) {
	now := s.nowSec()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return Meta{}, 0, ErrClosed
	}
	sh.checkFlush(now)
	slot, found := sh.ix.lookup(sh.buf, h, key)
	off := 0
	if found {
		off = int(sh.ix.off(slot))
		if expiredAt(le.Uint32(sh.buf[off+offExpires:]), now) {
			sh.reclaimExpired(slot, off)
			found = false
		}
	}
	e := &sh.entry
	var before Meta
	if found {
		before = readMeta(sh.buf, off)
		*e = Entry{Found: true, Meta: before, Value: itemValue(sh.buf, off)}
	} else {
		*e = Entry{}
	}
	op := fn(e)
	*e = Entry{}
	switch op.Action {
	case Put:
		off, room, err := sh.store(s, h, key, slot, found, &op, now)
		if err != nil {
			return Meta{}, 0, storeError(key, err)
		}
		return readMeta(sh.buf, off), room, nil
	case Keep:
		if !found {
			return Meta{}, 0, nil
		}
		if !op.NoBump {
			sh.bump(off, now)
		}
		return readMeta(sh.buf, off), 0, nil
	case SetMeta:
		if !found {
			return Meta{}, 0, nil
		}
		m := op.Meta
		if m.CAS == 0 {
			m.CAS = s.nextCAS()
		}
		if m.Accessed > before.Accessed || m.Fetched && !before.Fetched {
			sh.buf[off+offBits] |= bitRef // the caller recorded a read: a use for eviction
		}
		writeMeta(sh.buf, off, &m)
		return readMeta(sh.buf, off), 0, nil
	case Delete:
		if found {
			sh.removeSlot(slot, off, false)
		}
		return Meta{}, 0, nil
	}
	return Meta{}, 0, fmt.Errorf("store: unknown action %d", op.Action)
}

// Set stores value under key with metadata m, replacing any item: an Update
// whose callback returns a Put, without the callback, its Entry and the
// Meta returned (a plain set reads none of them). It returns the new item's
// CAS unique, assigned when m.CAS is 0.
func (s *Store) Set(key []byte, m Meta, value []byte) (uint64, error) {
	if len(key) > MaxKeyLength {
		return 0, ErrKeyTooLong
	}
	h := hashKey(key)
	sh := s.shardOf(h)
	cas, room, err := sh.set(s, h, key, m, value)
	if room > 0 {
		sh.tidy(s, room)
	}
	return cas, err
}

// set is Set under the shard lock. It also returns the room to free ahead
// of the next writes (tidy), if any.
func (sh *shard) set(s *Store, h uint64, key []byte, m Meta, value []byte) (uint64, int, error) {
	now := s.nowSec()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return 0, 0, ErrClosed
	}
	sh.checkFlush(now)
	slot, found := sh.ix.lookup(sh.buf, h, key)
	if found {
		if off := int(sh.ix.off(slot)); expiredAt(le.Uint32(sh.buf[off+offExpires:]), now) {
			sh.reclaimExpired(slot, off)
			found = false
		}
	}
	parts := [1][]byte{value}
	op := Op{Action: Put, Meta: m, Value: parts[:]}
	off, room, err := sh.store(s, h, key, slot, found, &op, now)
	if err != nil {
		return 0, 0, storeError(key, err)
	}
	return le.Uint64(sh.buf[off+offCAS:]), room, nil
}

// reclaimExpired drops the expired item at off that a lookup found: a
// get_expired.
func (sh *shard) reclaimExpired(slot, off int) {
	sh.removeSlot(slot, off, true)
	sh.getExpired++
}

// storeError is the error of a write the shard refused.
func storeError(key []byte, err error) error {
	return fmt.Errorf("store %d-byte key: %w", len(key), err)
}

// Get looks key up and, on a hit, calls fn (if not nil) with the item and
// then records the read (Accessed, Fetched): a Read whose reader always
// records it. Get reports whether the key was found.
func (s *Store) Get(key []byte, fn func(e *Entry)) bool {
	return s.Read(key, func(e *Entry) bool {
		if fn != nil {
			fn(e)
		}
		return true
	})
}

// Read looks key up and, on a hit, calls fn with the item; fn reports
// whether to record the read (Accessed, Fetched). fn runs under the shard
// lock and must not call the Store; e.Value aliases store memory and is
// valid only during fn. Read reports whether the key was found. It is an
// Update whose callback returns Keep on a hit (NoBump when fn reports
// false), without the Op and the Meta returned, and does not allocate.
func (s *Store) Read(key []byte, fn func(e *Entry) (record bool)) bool {
	if len(key) > MaxKeyLength {
		return false
	}
	h := hashKey(key)
	sh := s.shardOf(h)
	now := s.nowSec()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.pendingFlush != 0 {
		sh.checkFlush(now)
	}
	slot, found := sh.ix.lookup(sh.buf, h, key)
	if !found {
		return false
	}
	off := int(sh.ix.off(slot))
	if expiredAt(le.Uint32(sh.buf[off+offExpires:]), now) {
		sh.reclaimExpired(slot, off)
		return false
	}
	e := &sh.entry
	*e = Entry{Found: true, Meta: readMeta(sh.buf, off), Value: itemValue(sh.buf, off)}
	if fn(e) {
		sh.bump(off, now)
	}
	return true
}

// Flush implements memcached's flush_all: every item stored before at (now,
// if at is not later) becomes invisible at at, and its memory is released.
// A later Flush replaces a pending one.
func (s *Store) Flush(at time.Time) {
	exact := s.now().Unix() // not the coarse clock: "now" must include this instant
	now := max(s.nowSec(), toU32Time(exact))
	deadline := toU32Time(at.Unix())
	immediate := at.Unix() <= exact
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if !sh.closed {
			sh.checkFlush(now) // a due delayed flush happens before it is replaced
			if immediate {
				sh.pendingFlush = 0
				sh.reset()
			} else {
				sh.pendingFlush = deadline
			}
		}
		sh.mu.Unlock()
	}
}

// Range calls fn for each live item (not expired, not flushed), one shard at
// a time and oldest first within a shard, until fn returns false. fn runs
// under the shard lock: it must be quick and must not call the Store. key
// aliases store memory and is valid only during fn.
func (s *Store) Range(fn func(key []byte, m Meta, size int) bool) {
	now := s.nowSec()
	for i := range s.shards {
		if !s.shards[i].rangeItems(now, fn) {
			return
		}
	}
}

// rangeItems is Range over one shard; it reports whether to go on.
func (sh *shard) rangeItems(now uint32, fn func(key []byte, m Meta, size int) bool) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return true
	}
	sh.checkFlush(now)
	return sh.walk(func(off int) bool {
		if sh.buf[off+offBits]&bitDead != 0 || expiredAt(le.Uint32(sh.buf[off+offExpires:]), now) {
			return true
		}
		return fn(itemKey(sh.buf, off), readMeta(sh.buf, off), itemLen(sh.buf, off))
	})
}

// Stats returns a snapshot of the counters, summed over shards.
func (s *Store) Stats() Stats {
	now := s.nowSec()
	st := Stats{LimitBytes: s.maxBytes}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if !sh.closed {
			sh.checkFlush(now)
		}
		st.Items += int64(sh.ix.count)
		st.Bytes += sh.bytes
		st.TotalItems += sh.totalItems
		st.Evictions += sh.evictions
		st.EvictedUnfetched += sh.evictedUnfetched
		st.Reclaimed += sh.reclaimed
		st.ExpiredUnfetched += sh.expiredUnfetched
		st.GetExpired += sh.getExpired
		st.IndexSlots += int64(sh.ix.groups()) * groupSlots
		st.ArenaBytes += int64(sh.hwm)
		st.IndexBytes += sh.ix.bytes()
		sh.mu.Unlock()
	}
	return st
}

// Close stops the background sweeper and releases the arenas. The Store
// must not be used afterwards: Update returns ErrClosed and Get misses.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.bg.Wait()
		var errs []error
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.closed = true
			if err := unmapArena(sh.buf); err != nil {
				errs = append(errs, err)
			}
			sh.buf = nil
			sh.ix = index{}
			sh.head, sh.tail, sh.wrapEnd, sh.wrapped, sh.hwm = 0, 0, 0, false, 0
			sh.mu.Unlock()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
