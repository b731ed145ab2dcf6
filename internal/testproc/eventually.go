package testproc

import (
	"testing"
	"time"
)

// Eventually polls cond every 10 ms until it holds, failing the test with
// what when within passes first. Tests wait with it instead of sleeping.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
