//go:build linux

package store

import (
	"fmt"
	"syscall"
)

// mapArena reserves n bytes of anonymous memory outside the Go heap. The
// kernel backs pages only when they are first written, so resident memory
// grows with the data stored, not with the reservation, and the garbage
// collector never sees or scans the arena.
func mapArena(n int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("store: mmap %d bytes: %w", n, err)
	}
	return b, nil
}

// unmapArena releases an arena from mapArena.
func unmapArena(b []byte) error {
	if err := syscall.Munmap(b); err != nil {
		return fmt.Errorf("store: munmap: %w", err)
	}
	return nil
}

// releaseArena tells the kernel it may drop the pages of b (they read back
// as zeros), returning their memory to the system.
func releaseArena(b []byte) {
	if len(b) > 0 {
		_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
	}
}
