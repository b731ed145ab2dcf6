package nodeclient

import (
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// The same suites against zonecached, this project's server, started by
// the test from ./cmd/zonecached.

func startZonecached(t *testing.T) *testproc.Process {
	t.Helper()
	return testproc.StartZonecached(t)
}

func TestOpsZonecached(t *testing.T)   { opsSuite(t, startZonecached(t).Addr) }
func TestLeaseZonecached(t *testing.T) { leaseSuite(t, startZonecached(t).Addr) }
