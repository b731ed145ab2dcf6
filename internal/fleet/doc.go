// Package fleet runs a local zonecache fleet: real zonecached processes in
// several zones on this machine, each on a free loopback port, optionally
// gossiping with each other. `make run` (through zonebench's fleet demo),
// benchmarks and tests use it to stand up a fleet, break parts of it (kill
// a zone, freeze a node) and tear it all down, leaving no process behind:
// children are killed when the fleet stops and, through the kernel's
// parent-death signal, when the supervising process dies.
//
// A fleet can also be stock memcached (Config.Memcached: static, no admin
// address, no gossip), place zones on other addresses and run their nodes
// through a command prefix (Config.ZoneHosts, Config.ZoneWrap: a zone in a
// network namespace, as the consistency checker cuts it off), and restart
// a killed node empty on its own addresses (Fleet.Restart). Its zonecached
// nodes share a random admin token (Fleet.AdminTokenFile), which
// Node.Admin carries.
package fleet
