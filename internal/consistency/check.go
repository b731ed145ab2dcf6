package consistency

import (
	"maps"
	"slices"
	"sort"
	"time"
)

// PhaseVerify is the phase of the final reads, one per key and zone, that
// decide whether acknowledged writes were lost.
const PhaseVerify = "verify"

// CheckConfig says how a history is judged.
type CheckConfig struct {
	// Window is the convergence window allowed after an acknowledgement: a
	// read that began less than Window after it may still return the version
	// before. Default 0 (a read that began before it may see either).
	Window time.Duration
	// AllowInFlight also allows a read to return the previous version while
	// the write that replaced it was still in flight to some replica: from
	// its acknowledgement until the last replica it was sent to answered
	// (Write.Done; the acknowledgement when unknown). Off by default.
	AllowInFlight bool
	// PolicyPhases are the phases in which a write whose policy was not met
	// is an expected error: the fault took away a replica the policy needs.
	PolicyPhases []string
}

// Result is the verdict on one history.
type Result struct {
	// Reads counts every read, VerifyReads those of the verify phase.
	Reads, VerifyReads, Writes, Acked int
	// Stale counts reads that returned a version older than the last
	// version acknowledged before the read began (less Window), or a value
	// while the last acknowledged write before it was a delete. Bogus of
	// them returned a value the writer never wrote or had not yet issued.
	Stale, Bogus int
	// WithinWindow counts reads that would be stale with Window 0 but are
	// allowed by it.
	WithinWindow int
	// InFlight counts the stale reads (or, with AllowInFlight, the reads
	// allowed) that began while every newer acknowledged write was still in
	// flight to some replica: the write policy had returned, a replica not
	// waited for had not answered yet.
	InFlight int
	// OldestVersions is the largest number of versions a stale read was
	// behind; OldestAge the longest time the returned version had been
	// overwritten (acknowledged) when the read began.
	OldestVersions uint64
	OldestAge      time.Duration
	// StaleByZone and StaleByPhase break Stale down.
	StaleByZone, StaleByPhase map[string]int
	// Causes breaks the stale reads down by "phase: cause" (the Cause*
	// constants). Fallback counts those answered by another zone than the
	// reader's, Deleted those after an acknowledged delete (before the read,
	// or between the version read and it). StaleSamples describes the first
	// of each phase and cause.
	Causes            map[string]int
	Fallback, Deleted int
	StaleSamples      []string
	// Lost counts keys whose last acknowledged write was a set that no
	// zone returned (nor a later version) in the verify phase, with no
	// later delete issued; LostKeys names a few. Unverified counts keys
	// whose verify reads all failed with an error.
	Lost       int
	LostKeys   []string
	Unverified int
	// Errors counts errors returned to callers, Expected of them writes
	// whose policy was not met in a PolicyPhase; ErrorsByPhase breaks them
	// down and ErrorSamples quotes a few.
	Errors        int
	Expected      int
	ErrorsByPhase map[string]int
	ErrorSamples  []string
}

// maxSamples bounds LostKeys and ErrorSamples.
const maxSamples = 5

// Check judges h.
func Check(h *History, cfg CheckConfig) Result {
	writes, reads, errs := h.snapshot()
	res := Result{Reads: len(reads), StaleByZone: map[string]int{}, StaleByPhase: map[string]int{}, ErrorsByPhase: map[string]int{}, Causes: map[string]int{}}
	idx := make(map[string]*keyIndex, len(writes))
	events := h.nodeEventsByKey()
	for k, ws := range writes {
		idx[k] = newKeyIndex(ws)
		idx[k].events = events[k]
		res.Writes += len(ws)
		res.Acked += len(idx[k].acked)
	}
	for _, r := range reads {
		if r.Phase == PhaseVerify {
			res.VerifyReads++
		}
		if r.Found {
			res.judgeRead(idx[r.Key], r, cfg)
		}
	}
	res.judgeLost(idx, reads)
	for _, e := range errs {
		res.Errors++
		if e.PolicyNotMet && slices.Contains(cfg.PolicyPhases, e.Phase) {
			res.Expected++
		}
		res.ErrorsByPhase[e.Phase]++
		if len(res.ErrorSamples) < maxSamples {
			res.ErrorSamples = append(res.ErrorSamples, e.Who+" in "+e.Phase+": "+e.Err)
		}
	}
	return res
}

// keyIndex is one key's writes: all of them by version and the
// acknowledged ones, whose acknowledgement times grow with their versions
// because one writer writes a key sequentially.
type keyIndex struct {
	all    []Write
	acked  []Write
	events []NodeEvent
}

func newKeyIndex(ws []Write) *keyIndex {
	k := &keyIndex{all: ws}
	for _, w := range ws {
		if w.Acked {
			k.acked = append(k.acked, w)
		}
	}
	return k
}

// lastAckedBefore is the acknowledged write with the latest
// acknowledgement before t, if any.
func (k *keyIndex) lastAckedBefore(t time.Time) (Write, bool) {
	i := sort.Search(len(k.acked), func(i int) bool { return !k.acked[i].Ack.Before(t) })
	if i == 0 {
		return Write{}, false
	}
	return k.acked[i-1], true
}

// firstAckedAfter is the acknowledged write of the lowest version above v.
func (k *keyIndex) firstAckedAfter(v uint64) (Write, bool) {
	i := sort.Search(len(k.acked), func(i int) bool { return k.acked[i].Version > v })
	if i == len(k.acked) {
		return Write{}, false
	}
	return k.acked[i], true
}

// written reports whether version v was issued as a set before end.
func (k *keyIndex) written(v uint64, end time.Time) bool {
	i := sort.Search(len(k.all), func(i int) bool { return k.all[i].Version >= v })
	return i < len(k.all) && k.all[i].Version == v && k.all[i].Op == OpSet && !k.all[i].Start.After(end)
}

func (res *Result) judgeRead(k *keyIndex, r Read, cfg CheckConfig) {
	window := cfg.Window
	if r.Bogus || k == nil || !k.written(r.Version, r.End) {
		res.stale(r, 0, 0)
		res.Bogus++
		return
	}
	last, ok := k.lastAckedBefore(r.Start.Add(-window))
	if !ok || r.Version >= last.Version {
		if l0, ok0 := k.lastAckedBefore(r.Start); ok0 && r.Version < l0.Version {
			res.WithinWindow++
		}
		return
	}
	inFlight := k.inFlight(r.Version, last.Version, r.Start.Add(-window))
	if inFlight {
		res.InFlight++
		if cfg.AllowInFlight {
			return
		}
	}
	next, _ := k.firstAckedAfter(r.Version) // exists: last is one
	res.stale(r, last.Version-r.Version, r.Start.Sub(next.Ack))
	res.explain(k, r, next, last, inFlight)
}

// explain records the cause of stale read r and its flags.
func (res *Result) explain(k *keyIndex, r Read, next, last Write, inFlight bool) {
	cause, detail := staleCause(r, next, last, k.events)
	if inFlight {
		cause = "(in flight) " + cause
	}
	key := r.Phase + ": " + cause
	res.Causes[key]++
	if r.Node != "" && r.NodeZone != r.Zone {
		res.Fallback++
	}
	if k.deletedBetween(r.Version, last.Version) {
		res.Deleted++
	}
	if res.Causes[key] == 1 && len(res.StaleSamples) < maxStaleSamples {
		res.StaleSamples = append(res.StaleSamples, describeStale(r, next, last, cause, detail)+nodeTrace(r, next, k.events))
	}
}

// maxStaleSamples bounds Result.StaleSamples.
const maxStaleSamples = 12

// deletedBetween reports whether an acknowledged delete has a version in
// (v, upTo].
func (k *keyIndex) deletedBetween(v, upTo uint64) bool {
	for _, w := range k.acked {
		if w.Version > v && w.Version <= upTo && w.Op == OpDelete {
			return true
		}
	}
	return false
}

// inFlight reports whether no acknowledged write of a version in (v, upTo]
// had completed (every replica answered) before t.
func (k *keyIndex) inFlight(v, upTo uint64, t time.Time) bool {
	i := sort.Search(len(k.acked), func(i int) bool { return k.acked[i].Version > v })
	for ; i < len(k.acked) && k.acked[i].Version <= upTo; i++ {
		done := k.acked[i].Done
		if done.IsZero() {
			done = k.acked[i].Ack
		}
		if done.Before(t) {
			return false
		}
	}
	return true
}

func (res *Result) stale(r Read, behind uint64, age time.Duration) {
	res.Stale++
	res.StaleByZone[r.Zone]++
	res.StaleByPhase[r.Phase]++
	res.OldestVersions = max(res.OldestVersions, behind)
	res.OldestAge = max(res.OldestAge, age)
}

// judgeLost decides lost writes from the verify reads.
func (res *Result) judgeLost(idx map[string]*keyIndex, reads []Read) {
	type seen struct{ answered, found bool }
	verify := map[string]*seen{}
	for _, r := range reads {
		if r.Phase != PhaseVerify {
			continue
		}
		s := verify[r.Key]
		if s == nil {
			s = &seen{}
			verify[r.Key] = s
		}
		if r.Err == nil {
			s.answered = true
		}
		if r.Found && !r.Bogus {
			if last, ok := lastAcked(idx[r.Key]); ok && r.Version >= last.Version {
				s.found = true
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(idx)) {
		k := idx[key]
		last, ok := lastAcked(k)
		if !ok || last.Op != OpSet || deletedLater(k, last.Version) {
			continue
		}
		s := verify[key]
		switch {
		case s == nil || !s.answered:
			res.Unverified++
		case !s.found:
			res.Lost++
			if len(res.LostKeys) < maxSamples {
				res.LostKeys = append(res.LostKeys, key)
			}
		}
	}
}

func lastAcked(k *keyIndex) (Write, bool) {
	if k == nil || len(k.acked) == 0 {
		return Write{}, false
	}
	return k.acked[len(k.acked)-1], true
}

// deletedLater reports whether a delete above version v was issued (it may
// have been applied though never acknowledged).
func deletedLater(k *keyIndex, v uint64) bool {
	for _, w := range k.all {
		if w.Version > v && w.Op == OpDelete {
			return true
		}
	}
	return false
}
