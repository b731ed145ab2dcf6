// Package consistency checks that zonecache never serves an overwritten or
// deleted value: it records a versioned workload against a real fleet (a
// History of writes with their acknowledgement times and of reads in every
// zone), injects faults on a schedule, and judges the history (Check).
// `zonebench consistency` (make check-consistency) is its command line, and
// its tests run the short form of every fault in make test.
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
//     None is expected with the default policy, as no fault takes away more
//     than one zone; under policy all, "write policy not met" in the fault
//     phase is (Result.Expected), and does not fail the check.
//
// The writer's client reports, through its attempt hook, when the last
// replica of each write answered (Write.Done): stale reads that began
// after the acknowledgement but before that are counted apart
// (Result.InFlight), and CheckConfig.AllowInFlight allows them. Each
// reader is one goroutine on its own client, so no read joins a lookup
// another read began earlier (the client de-duplicates concurrent Gets).
//
// # Why a read was stale
//
// The hooks also record, as NodeEvents, each replica's answer to each
// write and to the writer's repairs, each delete a write sent a former
// owner of its key (client.Config.FormerOwnerWindow), and each reader's
// read repairs (the
// key comes from client.AttemptEvent.Key); each read records the node that
// answered it and whether that was a fallback to another zone. Check gives
// every stale read a cause from the events of its key at that node
// (Result.Causes, by phase): a read repair stored the value after the
// newer write was issued (an Add landing after a delete: the value comes
// back); the node had applied a newer write before the read (an older
// write overtook it, or the node lost it); the newer write to the node was
// still in flight, or had failed there (a repair was due); or no answer of
// the node to it was seen (not sent there, or the writer process died
// first). Result.StaleSamples describes the first of each.
//
// # Runs
//
// Run starts a fresh local fleet (3 zones x 2 nodes: gossiping zonecached
// whose clients discover and follow the topology, or stock memcached with a
// static one), a writer in zone a and a reader in every zone, and follows a
// schedule: warm-up, fault, heal, recovery (writes go on), settle (the
// writer stops; RunConfig.Settle is the convergence bound lost writes are
// judged after), verify (fresh clients, bootstrapped from their own zone's
// seeds, read every key once in their zone without falling back or
// repairing). Faults lists the faults (the Fault constants say what each
// does; the zone cut uses fault proxies without root, the restarted
// writer must take over its predecessor's spooled repairs, and the
// reshard-kill fault drives package reshard through a node killed
// mid-copy and a resume from the checkpoint). Each report
// lists the evidence that its fault happened; a fault that could not be
// injected fails the run with ErrFaultNotInjected. Namespaces are named
// zcc-<pid>-<n> and removed at the end; CleanStaleNetns removes those of
// dead runs.
package consistency
