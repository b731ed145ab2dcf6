package consistency

import (
	"strings"
	"testing"
	"time"
)

// t0 is the origin of the hand-made histories; at(ms) is t0 + ms.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// write records version v of key as issued at start and, when ack >= 0,
// acknowledged at ack.
func write(h *History, key string, v uint64, op Op, start, ack int) {
	h.Issue(Write{Key: key, Version: v, Op: op, Start: at(start)})
	if ack >= 0 {
		h.Acknowledge(key, v, at(ack))
	}
}

func read(h *History, key, zone string, start, end int, v uint64) {
	h.AddRead(Read{Key: key, Zone: zone, Start: at(start), End: at(end), Found: v > 0, Version: v})
}

func TestCheckFlagsAReadOlderThanTheLastAcknowledgedVersion(t *testing.T) {
	h := NewHistory()
	write(h, "k", 1, OpSet, 0, 10)
	write(h, "k", 2, OpSet, 20, 30)
	write(h, "k", 3, OpSet, 40, 50)
	read(h, "k", "c", 100, 101, 1) // two versions behind; v1 overwritten since 30 ms
	read(h, "k", "a", 100, 101, 3) // current: fine
	res := Check(h, CheckConfig{})
	if res.Stale != 1 || res.StaleByZone["c"] != 1 {
		t.Fatalf("stale = %d (by zone %v), want 1 in zone c", res.Stale, res.StaleByZone)
	}
	if res.OldestVersions != 2 || res.OldestAge != 70*time.Millisecond {
		t.Fatalf("oldest = %d versions, %v; want 2 versions, 70ms", res.OldestVersions, res.OldestAge)
	}
}

func TestCheckDoesNotFlagAReadThatOverlappedAWrite(t *testing.T) {
	h := NewHistory()
	write(h, "k", 1, OpSet, 0, 10)
	write(h, "k", 2, OpSet, 20, 30)
	read(h, "k", "a", 25, 40, 1) // began before v2's ack: v1 allowed
	read(h, "k", "b", 25, 40, 2) // and v2 too, in flight
	read(h, "k", "c", 15, 18, 1) // before v2 was issued
	write(h, "k", 3, OpDelete, 50, 60)
	read(h, "k", "a", 55, 70, 2) // began before the delete's ack
	write(h, "k", 4, OpSet, 80, -1)
	read(h, "k", "b", 85, 90, 4) // an unacknowledged write in flight
	if res := Check(h, CheckConfig{}); res.Stale != 0 || res.Bogus != 0 {
		t.Fatalf("stale = %d, bogus = %d; want 0 for reads overlapping writes", res.Stale, res.Bogus)
	}
}

func TestCheckFlagsAValueReadAfterAnAcknowledgedDelete(t *testing.T) {
	h := NewHistory()
	write(h, "k", 1, OpSet, 0, 10)
	write(h, "k", 2, OpDelete, 20, 30)
	read(h, "k", "b", 40, 41, 1)
	read(h, "k", "a", 40, 41, 0) // a miss is right
	res := Check(h, CheckConfig{})
	if res.Stale != 1 || res.OldestVersions != 1 || res.OldestAge != 10*time.Millisecond {
		t.Fatalf("stale = %d, oldest %d versions %v; want 1, 1 version, 10ms", res.Stale, res.OldestVersions, res.OldestAge)
	}
}

func TestCheckWindowAllowsReadsJustAfterTheAck(t *testing.T) {
	h := NewHistory()
	write(h, "k", 1, OpSet, 0, 10)
	write(h, "k", 2, OpSet, 20, 30)
	read(h, "k", "a", 35, 36, 1)   // 5 ms after v2's ack
	read(h, "k", "a", 100, 101, 1) // 70 ms after
	res := Check(h, CheckConfig{Window: 20 * time.Millisecond})
	if res.Stale != 1 || res.WithinWindow != 1 {
		t.Fatalf("stale = %d, within window = %d; want 1 and 1", res.Stale, res.WithinWindow)
	}
	if res := Check(h, CheckConfig{}); res.Stale != 2 {
		t.Fatalf("without a window stale = %d, want 2", res.Stale)
	}
}

func TestCheckFlagsValuesNeverWritten(t *testing.T) {
	h := NewHistory()
	write(h, "k", 1, OpSet, 0, 10)
	write(h, "k", 2, OpDelete, 20, 30)
	read(h, "k", "a", 40, 41, 7) // never issued
	read(h, "k", "a", 40, 41, 2) // a delete's version holds no value
	write(h, "k", 3, OpSet, 50, 60)
	read(h, "k", "a", 42, 45, 3) // issued after the read returned
	h.AddRead(Read{Key: "k", Zone: "b", Start: at(70), End: at(71), Found: true, Bogus: true})
	if res := Check(h, CheckConfig{}); res.Stale != 4 || res.Bogus != 4 {
		t.Fatalf("stale = %d, bogus = %d; want 4 and 4", res.Stale, res.Bogus)
	}
}

func verify(h *History, key string, v uint64, zones ...string) {
	for _, z := range zones {
		h.AddRead(Read{Key: key, Zone: z, Phase: PhaseVerify, Start: at(1000), End: at(1001), Found: v > 0, Version: v})
	}
}

func TestCheckFlagsAnAcknowledgedWriteNoZoneReturns(t *testing.T) {
	h := NewHistory()
	write(h, "lost", 1, OpSet, 0, 10)
	write(h, "lost", 2, OpSet, 20, 30)
	verify(h, "lost", 0, "a", "b")
	verify(h, "lost", 1, "c") // an older version is not the acknowledged one
	write(h, "kept", 1, OpSet, 0, 10)
	verify(h, "kept", 0, "a", "b")
	verify(h, "kept", 1, "c")
	write(h, "deleted", 1, OpSet, 0, 10)
	write(h, "deleted", 2, OpDelete, 20, 30)
	verify(h, "deleted", 0, "a", "b", "c")
	write(h, "maybe", 1, OpSet, 0, 10)
	write(h, "maybe", 2, OpDelete, 20, -1) // unacknowledged delete may have applied
	verify(h, "maybe", 0, "a", "b", "c")
	res := Check(h, CheckConfig{})
	if res.Lost != 1 || strings.Join(res.LostKeys, ",") != "lost" {
		t.Fatalf("lost = %d %v, want 1 [lost]", res.Lost, res.LostKeys)
	}
	if res.Stale != 1 || res.StaleByPhase[PhaseVerify] != 1 {
		t.Fatalf("stale = %d by phase %v, want the verify read of v1", res.Stale, res.StaleByPhase)
	}
}

func TestCheckCountsKeysWhoseVerifyReadsFailedAsUnverified(t *testing.T) {
	h := NewHistory()
	write(h, "k", 1, OpSet, 0, 10)
	h.AddRead(Read{Key: "k", Zone: "a", Phase: PhaseVerify, Start: at(1000), End: at(1001), Err: errMalformed})
	if res := Check(h, CheckConfig{}); res.Lost != 0 || res.Unverified != 1 {
		t.Fatalf("lost = %d, unverified = %d; want 0 and 1", res.Lost, res.Unverified)
	}
}

func TestPhasesComeFromMarks(t *testing.T) {
	h := NewHistory()
	h.MarkPhase("warm-up", at(0))
	h.MarkPhase("fault", at(100))
	h.AddError(CallerError{Who: "writer", At: at(150), Err: "boom"})
	h.AddError(CallerError{Who: "writer", At: at(50), Err: "boom"})
	res := Check(h, CheckConfig{})
	if res.Errors != 2 || res.ErrorsByPhase["fault"] != 1 || res.ErrorsByPhase["warm-up"] != 1 {
		t.Fatalf("errors %d by phase %v, want one in warm-up, one in fault", res.Errors, res.ErrorsByPhase)
	}
}

func TestCheckTellsReadsWhileTheWriteWasStillInFlight(t *testing.T) {
	h := NewHistory()
	write(h, "k", 1, OpSet, 0, 10)
	h.Complete("k", 1, at(12))
	write(h, "k", 2, OpSet, 20, 30) // acknowledged at 30, its last replica answered at 80
	h.Complete("k", 2, at(80))
	read(h, "k", "c", 50, 51, 1)   // after the ack, while v2 was in flight to c
	read(h, "k", "c", 100, 101, 1) // after every replica answered
	res := Check(h, CheckConfig{})
	if res.Stale != 2 || res.InFlight != 1 {
		t.Fatalf("stale = %d, in flight = %d; want 2 and 1", res.Stale, res.InFlight)
	}
	res = Check(h, CheckConfig{AllowInFlight: true})
	if res.Stale != 1 || res.InFlight != 1 {
		t.Fatalf("allowing in-flight: stale = %d, in flight = %d; want 1 and 1", res.Stale, res.InFlight)
	}
}

func TestCheckExpectsPolicyErrorsOnlyInTheNamedPhases(t *testing.T) {
	h := NewHistory()
	h.MarkPhase("fault", at(0))
	h.MarkPhase("heal", at(100))
	h.AddError(CallerError{Who: "writer", At: at(50), Err: "policy not met", PolicyNotMet: true})
	res := Check(h, CheckConfig{PolicyPhases: []string{"fault"}})
	if res.Errors != 1 || res.Expected != 1 || res.Failed() {
		t.Fatalf("errors %d, expected %d, failed %v; want 1, 1, false", res.Errors, res.Expected, res.Failed())
	}
	h.AddError(CallerError{Who: "writer", At: at(150), Err: "policy not met", PolicyNotMet: true})
	h.AddError(CallerError{Who: "reader a", At: at(60), Err: "timeout"})
	res = Check(h, CheckConfig{PolicyPhases: []string{"fault"}})
	if res.Errors != 3 || res.Expected != 1 || !res.Failed() {
		t.Fatalf("errors %d, expected %d, failed %v; want 3, 1, true", res.Errors, res.Expected, res.Failed())
	}
}
