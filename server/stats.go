package server

import (
	"math/bits"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zonecache/zonecache/server/internal/store"
)

// statID names one of the server's counters.
type statID int

const (
	stCmdGet statID = iota
	stGetHits
	stGetMisses
	stCmdSet
	stCmdTouch
	stTouchHits
	stTouchMisses
	stCmdFlush
	stCmdMeta
	stDeleteHits
	stDeleteMisses
	stIncrHits
	stIncrMisses
	stDecrHits
	stDecrMisses
	stCasHits
	stCasMisses
	stCasBadval
	stStoreTooLarge
	stStoreNoMemory
	stBytesRead
	stBytesWritten
	stTotalConns
	stRejectedConns
	stAuthCmds
	stAuthErrors
	// stValueTimeouts counts connections closed for a data block that did
	// not arrive in time or whose budget was reclaimed; stIdleKicks those
	// closed by Config.IdleTimeout.
	stValueTimeouts
	stIdleKicks
	numStats
)

// counters are the server's totals; connections add to them in batches.
type counters struct {
	v [numStats]atomic.Uint64
	// base holds v's values at the last "stats reset": the stats command
	// shows v minus base, while the Prometheus counters and Reads keep
	// counting from the start, so they never go down.
	base [numStats]atomic.Uint64
	// storeBase is the store's counters at the last "stats reset".
	storeMu   sync.Mutex
	storeBase store.Stats
	// cmds counts commands executed, by kind.
	cmds [numCmds]atomic.Uint64
	// currConns is the number of open client connections.
	currConns atomic.Int64
}

func (c *counters) get(id statID) uint64 { return c.v[id].Load() }

// shown is a counter as the stats command reports it: since the last reset.
// The base is read first: a reset in between only raises the value read
// after it, so the difference never wraps below zero.
func (c *counters) shown(id statID) uint64 {
	base := c.base[id].Load()
	return c.v[id].Load() - base
}

// reset starts the counters that the stats command shows from zero, as
// memcached's "stats reset" does: every command and connection counter and
// the store's totals (total_items, evictions, reclaimed, the unfetched
// counts, get_expired); gauges such as curr_items and bytes are kept.
func (c *counters) reset(st *store.Store) {
	for i := range c.v {
		c.base[i].Store(c.v[i].Load())
	}
	ss := st.Stats()
	c.storeMu.Lock()
	c.storeBase = ss
	c.storeMu.Unlock()
}

// storeStats is the store's snapshot with its counters since the last
// reset.
func (c *counters) storeStats(st *store.Store) store.Stats {
	c.storeMu.Lock()
	b := c.storeBase
	c.storeMu.Unlock()
	ss := st.Stats() // after the base, as in shown
	ss.TotalItems -= b.TotalItems
	ss.Evictions -= b.Evictions
	ss.EvictedUnfetched -= b.EvictedUnfetched
	ss.Reclaimed -= b.Reclaimed
	ss.ExpiredUnfetched -= b.ExpiredUnfetched
	ss.GetExpired -= b.GetExpired
	return ss
}

// statWriter appends "STAT name value" lines.
type statWriter struct{ c *conn }

func (w statWriter) u(name string, v uint64) {
	w.c.str("STAT ")
	w.c.str(name)
	w.c.out = append(w.c.out, ' ')
	w.c.out = strconv.AppendUint(w.c.out, v, 10)
	w.c.str("\r\n")
}

func (w statWriter) i(name string, v int64) {
	w.c.str("STAT ")
	w.c.str(name)
	w.c.out = append(w.c.out, ' ')
	w.c.out = strconv.AppendInt(w.c.out, v, 10)
	w.c.str("\r\n")
}

func (w statWriter) s(name, v string) {
	w.c.str("STAT ")
	w.c.str(name)
	w.c.out = append(w.c.out, ' ')
	w.c.str(v)
	w.c.str("\r\n")
}

func rusage() (user, sys string) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return "0.000000", "0.000000"
	}
	f := func(tv syscall.Timeval) string {
		us := strconv.FormatInt(int64(tv.Usec), 10)
		for len(us) < 6 {
			us = "0" + us
		}
		return strconv.FormatInt(int64(tv.Sec), 10) + "." + us
	}
	return f(ru.Utime), f(ru.Stime)
}

// generalStats writes the reply to a bare "stats".
func (c *conn) generalStats() {
	c.mergeStats()
	s := c.s
	st := &s.stats
	w := statWriter{c}
	now := c.now()
	ss := st.storeStats(s.store)
	user, sys := rusage()
	w.i("pid", int64(os.Getpid()))
	w.i("uptime", int64(now.Sub(s.started)/time.Second))
	w.i("time", now.Unix())
	w.s("version", Version)
	w.s("libevent", "none")
	w.i("pointer_size", int64(strconv.IntSize))
	w.s("rusage_user", user)
	w.s("rusage_system", sys)
	w.i("max_connections", int64(s.cfg.MaxConns))
	w.i("curr_connections", st.currConns.Load())
	w.u("total_connections", st.shown(stTotalConns))
	w.u("rejected_connections", st.shown(stRejectedConns))
	w.i("connection_structures", st.currConns.Load())
	w.u("cmd_get", st.shown(stCmdGet))
	w.u("cmd_set", st.shown(stCmdSet))
	w.u("cmd_flush", st.shown(stCmdFlush))
	w.u("cmd_touch", st.shown(stCmdTouch))
	w.u("cmd_meta", st.shown(stCmdMeta))
	w.u("get_hits", st.shown(stGetHits))
	w.u("get_misses", st.shown(stGetMisses))
	w.u("get_expired", ss.GetExpired)
	// A flush_all drops the flushed items and returns their memory at
	// once, so no later read can find one: get_flushed stays 0.
	w.u("get_flushed", 0)
	w.u("delete_misses", st.shown(stDeleteMisses))
	w.u("delete_hits", st.shown(stDeleteHits))
	w.u("incr_misses", st.shown(stIncrMisses))
	w.u("incr_hits", st.shown(stIncrHits))
	w.u("decr_misses", st.shown(stDecrMisses))
	w.u("decr_hits", st.shown(stDecrHits))
	w.u("cas_misses", st.shown(stCasMisses))
	w.u("cas_hits", st.shown(stCasHits))
	w.u("cas_badval", st.shown(stCasBadval))
	w.u("touch_hits", st.shown(stTouchHits))
	w.u("touch_misses", st.shown(stTouchMisses))
	w.u("store_too_large", st.shown(stStoreTooLarge))
	w.u("store_no_memory", st.shown(stStoreNoMemory))
	w.u("auth_cmds", st.shown(stAuthCmds))
	w.u("auth_errors", st.shown(stAuthErrors))
	w.u("bytes_read", st.shown(stBytesRead))
	w.u("bytes_written", st.shown(stBytesWritten))
	w.i("limit_maxbytes", s.maxBytes())
	w.i("accepting_conns", boolInt(!s.closing.Load()))
	w.i("threads", int64(runtime.GOMAXPROCS(0)))
	w.i("conn_yields", 0)
	w.i("hash_power_level", int64(max(bits.Len64(uint64(ss.IndexSlots)), 1)-1))
	w.i("hash_bytes", ss.IndexBytes)
	w.i("hash_is_expanding", 0)
	w.u("reclaimed", ss.Reclaimed)
	w.u("expired_unfetched", ss.ExpiredUnfetched)
	w.u("evicted_unfetched", ss.EvictedUnfetched)
	w.i("curr_items", ss.Items)
	w.u("total_items", ss.TotalItems)
	w.i("bytes", ss.Bytes)
	w.u("evictions", ss.Evictions)
	c.str("END\r\n")
}

// settingsStats writes the reply to "stats settings".
func (c *conn) settingsStats() {
	s := c.s
	w := statWriter{c}
	port := int64(0)
	if a, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		port = int64(a.Port)
	}
	w.i("maxbytes", s.maxBytes())
	w.i("maxconns", int64(s.cfg.MaxConns))
	w.i("tcpport", port)
	w.i("udpport", 0)
	w.i("verbosity", 0)
	w.i("num_threads", int64(runtime.GOMAXPROCS(0)))
	w.s("cas_enabled", "yes")
	w.i("item_size_max", int64(s.cfg.MaxItemSize))
	w.s("flush_enabled", yesNo(!s.cfg.DisableFlushAll))
	w.s("dump_enabled", "yes")
	w.s("binding_protocol", "ascii")
	w.s("ssl_enabled", yesNo(s.cfg.TLS != nil))
	w.s("lru_crawler", yesNo(!s.crawlerOff.Load()))
	w.s("evictions", "on")
	c.str("END\r\n")
}

// itemsStats writes "stats items". The store has no slab classes, so the
// whole store is reported as class 1.
func (c *conn) itemsStats() {
	ss := c.s.stats.storeStats(c.s.store)
	w := statWriter{c}
	if ss.Items > 0 {
		w.i("items:1:number", ss.Items)
		w.i("items:1:mem_requested", ss.Bytes)
		w.u("items:1:evicted", ss.Evictions)
		w.u("items:1:reclaimed", ss.Reclaimed)
		w.u("items:1:expired_unfetched", ss.ExpiredUnfetched)
		w.u("items:1:evicted_unfetched", ss.EvictedUnfetched)
		w.u("items:1:outofmemory", c.s.stats.shown(stStoreNoMemory))
	}
	c.str("END\r\n")
}

// slabsStats writes "stats slabs": totals only, as the store has no slabs.
func (c *conn) slabsStats() {
	ss := c.s.store.Stats()
	w := statWriter{c}
	active := int64(0)
	if ss.Items > 0 {
		active = 1
	}
	w.i("active_slabs", active)
	w.i("total_malloced", ss.Bytes)
	c.str("END\r\n")
}

// maxBytes is the store's memory limit: MaxBytes, or what cache_memlimit
// set last.
func (s *Server) maxBytes() int64 {
	if n := s.memLimit.Load(); n > 0 {
		return n
	}
	return s.cfg.MaxBytes
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Reads returns how many read commands (get, gets, gat, gats, mg) the server
// has executed, as merged from its connections after each batch of
// commands. A draining node watches it to tell when clients have moved
// their reads away.
func (s *Server) Reads() uint64 {
	var n uint64
	for _, id := range [...]cmdID{cmdGet, cmdGets, cmdGat, cmdGats, cmdMg} {
		n += s.stats.cmds[id].Load()
	}
	return n
}
