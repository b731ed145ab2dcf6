// Package testproc starts real cache processes for tests: Debian's memcached
// and our own zonecached, each on a loopback address and a port that was free
// when it was picked. Tests use it instead of mocks, and simulate faults with
// the process itself: Kill, Freeze (SIGSTOP), Thaw (SIGCONT) and Terminate
// (SIGTERM).
//
// A test that needs memcached calls RequireMemcached first: it skips when the
// binary is missing on a developer machine, and fails under CI (CI set in the
// environment), where `make test` has installed it.
package testproc
