// Package e2e holds end-to-end tests of the whole system: real zonecached
// processes gossiping as a fleet (internal/fleet), clients that discover
// it from seeds (package discovery) and read and write through the smart
// client (package client) while nodes join, die, drain and warm up. It also
// holds the repository-wide checks that docs/packages.md and the README's
// Layout table match `go list` (make packages regenerates the diagram), and
// the checks of deploy/'s Grafana dashboard and Prometheus alert rules
// against real zonecached nodes, a client and a Prometheus server. It has
// no code of its own.
package e2e
