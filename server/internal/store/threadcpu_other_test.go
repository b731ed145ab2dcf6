//go:build !linux

package store

import "time"

func threadCPU() time.Duration { return 0 }

func threadUsage() (time.Duration, int64) { return 0, 0 }
