//go:build !linux

package store

// mapArena allocates the arena on the Go heap. It holds no pointers, so the
// collector does not scan it; fresh pages are typically untouched until
// written.
func mapArena(n int) ([]byte, error) { return make([]byte, n), nil }

// unmapArena is a no-op: the collector frees the arena.
func unmapArena([]byte) error { return nil }

// releaseArena is a no-op off Linux.
func releaseArena([]byte) {}
