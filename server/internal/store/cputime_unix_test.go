//go:build unix

package store

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time this process has used. On a shared
// machine it is a steadier measure of work per operation than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
