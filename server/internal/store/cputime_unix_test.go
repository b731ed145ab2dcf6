//go:build unix

package store

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time this process has used. On a shared
// machine it is a steadier measure of work per operation than wall time.
func processCPU() time.Duration {
	cpu, _ := rusage(syscall.RUSAGE_SELF)
	return cpu
}

// rusage is the user+system CPU time of who and its page faults.
func rusage(who int) (time.Duration, int64) {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), int64(ru.Minflt + ru.Majflt)
}
