package client

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// Segment file names in a spool directory: <random>.rspool, and
// <random>.rspool.tmp while a segment is being compacted.
const (
	spoolExt    = ".rspool"
	spoolTmpExt = ".rspool.tmp"
	// spoolCompactMin is the segment size under which dead records are
	// not worth a compaction.
	spoolCompactMin = 1 << 20
)

// spool persists the client's accepted repairs in a segment file of its
// own in Config.RepairSpoolDir, which it holds an exclusive flock on while
// it lives: a segment whose lock is free belongs to a process that exited,
// and the next client that starts on the directory adopts it. Every record
// is written to the kernel (one write call) before add returns, so it
// survives the process being killed; a background loop fsyncs the segment
// every Config.RepairSpoolSync while it has unsynced records, so it
// survives the machine crashing after that.
type spool struct {
	dir   string
	limit int64
	log   *slog.Logger

	mu        sync.Mutex
	f         *os.File
	path      string
	size      int64
	live      map[repairKey]spoolEntry
	liveBytes int64
	seq       uint64
	dirty     bool
	broken    bool // a write could not be undone: spool nothing more
	closed    bool
	buf       []byte
	fullLog   time.Time // when "spool full" was last logged

	onFull  func() // counts a repair kept in memory only because the spool is full
	onError func() // counts a repair kept in memory only because of an I/O error

	stop chan struct{}
	done chan struct{}
}

type repairKey struct{ node, key string }

type spoolEntry struct {
	r replication.Repair
	n int64 // encoded size
}

// openSpool creates the client's own segment in dir and starts its fsync
// loop.
func openSpool(dir string, limit int64, syncEvery time.Duration, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("repair spool: %w", err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	path := filepath.Join(dir, hex.EncodeToString(rnd[:])+spoolExt)
	f, err := createLocked(path)
	if err != nil {
		return nil, fmt.Errorf("repair spool: %w", err)
	}
	s := &spool{dir: dir, limit: limit, log: log, f: f, path: path, size: spoolHeaderLen,
		live: make(map[repairKey]spoolEntry), stop: make(chan struct{}), done: make(chan struct{}),
		onFull: func() {}, onError: func() {}}
	go s.syncLoop(syncEvery)
	return s, nil
}

// createLocked creates path with a segment header, locked, and synced.
func createLocked(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	if _, err := f.Write(spoolHeader()); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return f, nil
}

func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// add spools r. It returns r's sequence number, and false when r stays
// in memory only: the spool is full (counted, logged once a minute),
// closed or failing. The sequence number is given even then, so that
// finishing r also ends an older record of the same node and key.
func (s *spool) add(r replication.Repair, now time.Time) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	r.Seq = s.seq
	if s.closed || s.broken {
		return r.Seq, false
	}
	rec, err := appendRecord(s.buf[:0], spoolRecord{r: r})
	s.buf = rec
	if err != nil {
		s.onError()
		return r.Seq, false
	}
	if s.size+int64(len(rec)) > s.limit {
		if s.liveBytes+spoolHeaderLen+int64(len(rec)) > s.limit || s.compact() != nil {
			s.full(now)
			return r.Seq, false
		}
		rec, _ = appendRecord(s.buf[:0], spoolRecord{r: r})
		s.buf = rec
	}
	if !s.write(rec) {
		return r.Seq, false
	}
	k := repairKey{r.NodeID, r.Key}
	if old, ok := s.live[k]; ok {
		s.liveBytes -= old.n
	}
	s.live[k] = spoolEntry{r: r, n: int64(len(rec))}
	s.liveBytes += int64(len(rec))
	return r.Seq, true
}

func (s *spool) full(now time.Time) {
	s.onFull()
	if now.Sub(s.fullLog) >= time.Minute {
		s.fullLog = now
		s.log.Warn("zonecache: repair spool full, repairs kept in memory only", "dir", s.dir, "bytes", s.size, "limit", s.limit)
	}
}

// write appends rec; on an error it cuts the segment back so that no torn
// record sits before the next one. Called with mu held.
func (s *spool) write(rec []byte) bool {
	if _, err := s.f.Write(rec); err != nil {
		s.onError()
		if terr := s.f.Truncate(s.size); terr != nil {
			s.broken = true
			s.log.Error("zonecache: repair spool broken, repairs kept in memory only", "path", s.path, "err", err)
		}
		return false
	}
	s.size += int64(len(rec))
	s.dirty = true
	return true
}

// finish records that the repair r is over (repaired, or given up), and
// with it any older spooled repair of the same node and key (one that the
// full spool could not replace by r); a newer one stays. An empty segment
// is cut back to its header; one mostly made of ended records is
// compacted.
func (s *spool) finish(r replication.Repair) {
	if r.Seq == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := repairKey{r.NodeID, r.Key}
	e, ok := s.live[k]
	if !ok || e.r.Seq > r.Seq || s.closed || s.broken {
		return
	}
	delete(s.live, k)
	s.liveBytes -= e.n
	switch {
	case len(s.live) == 0:
		if err := s.f.Truncate(spoolHeaderLen); err == nil {
			s.size, s.dirty = spoolHeaderLen, true
			return
		}
	case s.size > spoolCompactMin && s.size > 2*(s.liveBytes+spoolHeaderLen):
		if s.compact() == nil {
			return
		}
	}
	rec, _ := appendRecord(s.buf[:0], spoolRecord{done: true, r: replication.Repair{Seq: e.r.Seq}})
	s.buf = rec
	s.write(rec)
}

// compact rewrites the segment with its live records only: a new file,
// locked and synced, renamed over the old one. Called with mu held.
func (s *spool) compact() error {
	tmp := strings.TrimSuffix(s.path, spoolExt) + spoolTmpExt
	_ = os.Remove(tmp) // a leftover of ours: we hold the name
	f, err := createLocked(tmp)
	if err != nil {
		return err
	}
	buf := spoolHeader()
	now := time.Now()
	for k, e := range s.live {
		if !e.r.Deadline.IsZero() && !now.Before(e.r.Deadline) {
			delete(s.live, k) // its key has expired: nothing to repair
			s.liveBytes -= e.n
			continue
		}
		buf, _ = appendRecord(buf, spoolRecord{r: e.r})
	}
	err = writeAllSync(f, buf[spoolHeaderLen:])
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	syncDir(s.dir)
	_ = s.f.Close()
	s.f, s.size, s.dirty = f, int64(len(buf)), false
	return nil
}

func writeAllSync(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// syncLoop fsyncs the segment every period while it has unsynced records.
func (s *spool) syncLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sync()
		}
	}
}

// sync fsyncs the segment if it has unsynced records. The fsync runs
// outside the lock, so that adds do not wait for the disk.
func (s *spool) sync() {
	s.mu.Lock()
	f, dirty := s.f, s.dirty
	s.dirty = false
	s.mu.Unlock()
	if dirty {
		if err := f.Sync(); err != nil && !errors.Is(err, fs.ErrClosed) {
			s.log.Warn("zonecache: repair spool fsync failed", "path", s.path, "err", err)
		}
	}
}

// pending returns how many spooled repairs are not over, and the
// segment's size in bytes.
func (s *spool) pending() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live), s.size
}

// close stops the fsync loop, syncs, and releases the segment: removed if
// no repair in it is left, else left (unlocked) for the next client that
// starts on the directory. It returns how many repairs were left in it.
func (s *spool) close() int {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, e := range s.live {
		if !e.r.Deadline.IsZero() && !now.Before(e.r.Deadline) {
			delete(s.live, k) // its key has expired: nothing to repair
		}
	}
	left := len(s.live)
	if left == 0 && !s.broken {
		_ = os.Remove(s.path)
	} else {
		_ = s.f.Sync()
	}
	_ = s.f.Close()
	return left
}

// orphans are segments of exited processes, locked by this client until it
// has taken their repairs over.
type orphans struct {
	files []*os.File
	paths []string
}

// adoptOrphans locks every segment in dir whose lock is free (its owner
// exited) and returns the repairs still live in them whose key has not
// expired. Leftover compaction files are removed. A segment it cannot read
// (another version) is logged and left alone.
func adoptOrphans(dir string, now time.Time, log *slog.Logger) ([]replication.Repair, *orphans) {
	o := &orphans{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("zonecache: repair spool unreadable", "dir", dir, "err", err)
		return nil, o
	}
	var out []replication.Repair
	for _, e := range entries {
		name := e.Name()
		tmp := strings.HasSuffix(name, spoolTmpExt)
		if !tmp && !strings.HasSuffix(name, spoolExt) {
			continue
		}
		path := filepath.Join(dir, name)
		f := lockExisting(path)
		if f == nil {
			continue
		}
		if tmp {
			_ = os.Remove(path)
			_ = f.Close()
			continue
		}
		data, err := os.ReadFile(path)
		var recs []spoolRecord
		if err == nil {
			recs, _, err = decodeSpool(data)
		}
		if err != nil {
			log.Warn("zonecache: repair spool segment skipped", "path", path, "err", err)
			_ = f.Close()
			continue
		}
		for _, r := range liveRepairs(recs) {
			if r.Deadline.IsZero() || now.Before(r.Deadline) {
				out = append(out, r)
			}
		}
		o.files, o.paths = append(o.files, f), append(o.paths, path)
	}
	return out, o
}

// lockExisting opens and locks path; nil when another process holds it
// or it was replaced or removed meanwhile.
func lockExisting(path string) *os.File {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	if lockFile(f) != nil {
		_ = f.Close()
		return nil
	}
	fi, err1 := f.Stat()
	pi, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(fi, pi) {
		_ = f.Close()
		return nil
	}
	return f
}

// release removes the adopted segments once their repairs are in the
// adopter's own segment (remove), or only unlocks them.
func (o *orphans) release(remove bool) {
	for i, f := range o.files {
		if remove {
			_ = os.Remove(o.paths[i])
		}
		_ = f.Close()
	}
	o.files, o.paths = nil, nil
}
