package server

import (
	"sync/atomic"
	"time"
)

// clockResolution is how often the coarse clock ticks. Expiry times are
// whole seconds (memcached's clock ticks once a second), so a tenth of a
// second is plenty.
const clockResolution = 100 * time.Millisecond

// coarseClock is a clock read with one atomic load: reading the system
// clock on every command costs more than a cache hit on some machines.
type coarseClock struct {
	nanos atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

func newCoarseClock() *coarseClock {
	c := &coarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.nanos.Store(time.Now().UnixNano())
	go func() {
		defer close(c.done)
		t := time.NewTicker(clockResolution)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				c.nanos.Store(now.UnixNano())
			}
		}
	}()
	return c
}

// Now returns the time as of the last tick.
func (c *coarseClock) Now() time.Time { return time.Unix(0, c.nanos.Load()) }

// Close stops the ticking goroutine.
func (c *coarseClock) Close() {
	close(c.stop)
	<-c.done
}
