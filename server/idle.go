package server

import "time"

// idleCheckEvery is how often connections are checked against
// Config.IdleTimeout, as memcached checks once a second.
const idleCheckEvery = time.Second

// closeIdle closes, every idleCheckEvery until stop is closed, the
// connections that have waited longer than Config.IdleTimeout for a
// command.
func (s *Server) closeIdle(stop <-chan struct{}) {
	t := time.NewTicker(idleCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.kickIdle()
		}
	}
}

// kickIdle wakes the idle connections whose last read is older than the
// idle timeout (read times are whole seconds: a connection is closed
// between IdleTimeout and IdleTimeout plus two seconds after its last
// command).
func (s *Server) kickIdle() {
	cutoff := s.cfg.Now().Add(-s.cfg.IdleTimeout - time.Second).Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.lastRead.Load() < cutoff && c.wakeIfIdle(func() { s.stats.v[stIdleKicks].Add(1) }) {
			s.log.Debug("closing idle connection", "remote", c.nc.RemoteAddr().String())
		}
	}
}
