// Package serverbench compares two memcached-protocol server processes,
// Debian's memcached and zonecached, with load generators that cost less
// than the servers: memcaslap (C, from libmemcached-tools) and a pipelining
// multi-get load (many 100-key gets per write, replies read in bulk, as
// mc-crusher drives memcached).
//
// Run starts both servers side by side with the same memory and thread
// settings and measures them alternately, load by load, for several rounds,
// so the noise of a shared machine falls on both. Each Sample holds the
// throughput, the p99 latency and the server's CPU time per operation (from
// /proc/PID/stat), which stays comparable when the servers get different
// shares of the machine, its user and system parts and the server's
// context switches per operation (where the CPU goes: the server's code, or
// the kernel's system calls and wake-ups), and the generator's own CPU per
// operation, which
// shows whether the generator or the server was the bottleneck.
//
// It is the logic behind `zonebench server` (`make bench-server`).
package serverbench
