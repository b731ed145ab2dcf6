package store

import (
	"reflect"
	"time"
)

// coarseTick is how often the store's own clock reads the system clock.
// Reading the system clock costs tens of nanoseconds, more than half of a
// Get; memcached also keeps a once-per-second clock for item times.
const coarseTick = 100 * time.Millisecond

// isSystemClock reports whether now is time.Now itself (or nil), in which
// case the store may use its coarse clock instead of calling it per
// operation. An injected clock is always called.
func isSystemClock(now func() time.Time) bool {
	return now == nil || reflect.ValueOf(now).Pointer() == reflect.ValueOf(time.Now).Pointer()
}

// nowSec is the current Unix second for item times and expiry.
func (s *Store) nowSec() uint32 {
	if s.coarse {
		return s.sec.Load()
	}
	return toU32Time(s.now().Unix())
}

// clockLoop keeps s.sec current until Close.
func (s *Store) clockLoop() {
	defer s.bg.Done()
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.sec.Store(toU32Time(now.Unix()))
		}
	}
}
