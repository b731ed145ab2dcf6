//go:build !linux

package store

import "time"

func threadCPU() time.Duration { return 0 }
