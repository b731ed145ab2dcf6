// Package client is zonecache's smart client, the library services embed.
//
// It shards keys with consistent hashing (package sharding) across the
// memcached-protocol nodes of each availability zone, writes every key to
// its replica in every zone, reads from the local zone first and falls back
// to the other zones on a miss or an error (package replication decides the
// order and when a write is acknowledged), keeps batch traffic in a pool
// apart from online traffic, and de-duplicates lookups: within one request
// (WithRequestScope) and across concurrent requests of one process, so a
// cold key never causes a thundering herd on the origin.
//
// This package is being built in slices; what exists today is the request
// scope and the per-process de-duplication that the read path stands on.
package client
