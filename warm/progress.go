package warm

import (
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// DefaultProgressEvery is Config.ProgressEvery's default.
const DefaultProgressEvery = time.Second

// Progress is a warm-up's progress, passed to Config.Progress.
type Progress struct {
	// Stats are the totals so far.
	Stats
	// Target is the id of the node being filled.
	Target string
	// Sources are the source nodes, in the order Warm copies them.
	Sources []SourceProgress
}

// SourceProgress is the progress of the copy from one source node.
type SourceProgress struct {
	// From is the source node's id.
	From string
	// Dumped is true once its dump is read: Owned is then final.
	Dumped bool
	// Owned is the number of items of its dump that the target owns.
	Owned int64
	// Copied is the number of those added to the target; Bytes their
	// values' sizes.
	Copied, Bytes int64
	// Left is the number of owned items not tried yet; those of a source
	// not dumped yet are not known.
	Left int64
}

// tracker counts a warm-up's progress per source and reports it.
type tracker struct {
	target  string
	ids     []string
	sources []sourceCounters
	c       *counters
}

type sourceCounters struct {
	dumped                      atomic.Bool
	owned, copied, bytes, tried atomic.Int64
}

func newTracker(target string, sources []replication.Node, c *counters) *tracker {
	t := &tracker{target: target, sources: make([]sourceCounters, len(sources)), c: c}
	for _, n := range sources {
		t.ids = append(t.ids, n.ID)
	}
	return t
}

// dumped records that source i's dump is read, with owned items to copy.
func (t *tracker) dumped(i, owned int) {
	t.sources[i].owned.Store(int64(owned))
	t.sources[i].dumped.Store(true)
}

// count records one item of source i tried with result res, and n bytes
// copied.
func (t *tracker) count(i int, res CopyResult, n int) {
	s := &t.sources[i]
	s.tried.Add(1)
	if res == Copied {
		s.copied.Add(1)
		s.bytes.Add(int64(n))
	}
}

func (t *tracker) progress() Progress {
	p := Progress{Stats: t.c.stats(), Target: t.target, Sources: make([]SourceProgress, len(t.sources))}
	for i := range t.sources {
		s := &t.sources[i]
		p.Sources[i] = SourceProgress{From: t.ids[i], Dumped: s.dumped.Load(), Owned: s.owned.Load(),
			Copied: s.copied.Load(), Bytes: s.bytes.Load(), Left: s.owned.Load() - s.tried.Load()}
	}
	return p
}

// reportEvery calls fn (nil: nothing to do) with the progress every
// interval until the returned stop is called; stop calls it a last time.
func (t *tracker) reportEvery(fn func(Progress), interval time.Duration) (stop func()) {
	if fn == nil {
		return func() {}
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				fn(t.progress())
			case <-quit:
				fn(t.progress())
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
	}
}
