// Package consistency checks that zonecache never serves an overwritten or
// deleted value: it records a versioned workload against a real fleet (a
// History of writes with their acknowledgement times and of reads in every
// zone), injects faults on a schedule, and judges the history (Check).
//
// # What counts
//
// The writer writes each key sequentially: version n+1 of a key is issued
// after the call writing version n returned. A value is "<key>:<version>:"
// and padding; a delete takes a version too. Then, for every read:
//
//   - stale: the read began after version V of its key was acknowledged
//     (the call returned without error) and returned a value older than V,
//     or a value while V is a delete. Reads that began before the
//     acknowledgement may return either version: that is the write
//     policy's own in-flight time, the only window allowed by default
//     (CheckConfig.Window widens it). A stale read's age in versions is
//     V minus the version returned, its age in time how long before the
//     read began the returned version had been overwritten (acknowledged).
//     A miss is never stale. A value that names another key, a version
//     never issued, a delete's version or a version issued after the read
//     returned is "bogus" and counted as stale too.
//   - lost: in the verify phase, after the run's settle time, every key
//     is read in every zone; a key whose last acknowledged write is a set
//     of version V is lost when no zone returns V or a later version,
//     unless a delete above V was issued (unacknowledged, it may have been
//     applied). None of the faults erases every copy of a key (each takes
//     away at most one zone), so a lost key is never legitimate.
//   - caller errors: every error a writer or reader call returned (a miss
//     is not an error; deleting a missing key is not either), by phase.
package consistency
