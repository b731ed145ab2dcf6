package store

import "time"

// sweepGroups is how many index groups (8 slots each) the sweeper examines
// per shard per tick, holding the shard lock for one batch only.
const sweepGroups = 64

// sweepLoop reclaims expired items in the background until Close.
func (s *Store) sweepLoop(every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep(sweepGroups)
		}
	}
}

// sweep examines up to groups index groups in each shard, resuming where the
// previous sweep stopped, and reclaims the expired items it finds. It
// returns how many it reclaimed.
func (s *Store) sweep(groups int) int {
	now := s.nowSec()
	n := 0
	for i := range s.shards {
		select {
		case <-s.stop:
			return n
		default:
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		if !sh.closed {
			sh.checkFlush(now)
			if sh.ix.done(sh.sweepPos) {
				sh.sweepPos = 0
			}
			sh.sweepPos = sh.ix.forGroups(sh.sweepPos, groups, func(slot int, off uint32) {
				if expiredAt(le.Uint32(sh.buf[int(off)+offExpires:]), now) {
					sh.removeSlot(slot, int(off), true)
					n++
				}
			})
		}
		sh.mu.Unlock()
	}
	return n
}
