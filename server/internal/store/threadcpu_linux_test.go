package store

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time of the calling OS thread: with the goroutine
// locked to its thread, the time an operation ran, less the time the
// thread waited for a core on a shared machine (not the time the machine's
// hypervisor took the core away). getrusage's thread time counts in ticks;
// this clock in nanoseconds.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// threadUsage is threadCPU and the calling thread's page faults.
func threadUsage() (time.Duration, int64) {
	_, faults := rusage(unix.RUSAGE_THREAD)
	return threadCPU(), faults
}
