//go:build !race

package store

import (
	"os"
	"strconv"
	"strings"
)

const raceEnabled = false

// procRSS is the resident set size from /proc, or 0 when unavailable.
func procRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
