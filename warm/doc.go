// Package warm copies to a new (warming) cache node the items it will own,
// from another zone's replicas: the instance warmer of the EVCache cache
// warmer, done in one process.
//
// Warm lists every item of each source node with `lru_crawler metadump all`
// (memcached's format, which zonecached and memcached ≥ 1.4.31 both speak),
// keeps the keys that the target node owns in its zone's write ring
// (replication.Placement, with the clients' sharding.Config), reads each
// value from the source through a nodeclient batch pool and writes it to the
// target with add and the item's remaining TTL. Add, never set: a key that
// live traffic has already written to the warming node is newer than the copy
// and is left alone. Expired items and items gone from the source by the time
// they are read are skipped.
//
// The dump of one source node is read to the end before its items are
// copied (only the owned keys are kept, about 1/N of the dump for a zone of
// N nodes), because a server that cannot write its dump quickly drops the
// connection. Copying then runs through nodeclient batch pools (never
// the online ones) with bounded concurrency and an optional rate limit, so
// online traffic is not disturbed.
//
// Dump (one node's metadump: key, expiry, last access, size) and Copy (one
// item, read from a source and added to a destination with its remaining
// TTL) are the two steps on their own, for package reshard and operators'
// tools. CopyChecked reads the source again after the add and undoes a
// copy whose key was deleted or changed meanwhile: a client's delete that
// reached the destination before the add cannot be outlived.
//
// Before copying, Warm checks that every node it depends on answers (those
// of the target's zone that take writes, which decide what the target
// owns, and the source zone's serving ones, CheckAnswering): a dead node
// still listed would leave the target partly cold once gossip drops it,
// so Warm refuses with ErrUnsettled. Config.Progress reports the copy as
// it goes (per source node: owned, copied, bytes, left). The dumps and the
// check connect as Config.Node does (its TLS).
//
// Select returns what Warm copies (the target, the source nodes, the keys
// the target owns) for a caller that copies it another way: package
// reshard's WarmPlan makes it a plan that Copy carries out with a
// checkpoint and Resume continues ("zonecache warm --checkpoint").
//
// Typical use, from the admin CLI (cmd/zonecache): start the new node in
// state warming so that it receives live writes, run Warm from a serving
// zone, then promote the node to serving.
//
// Purge is the reverse move: it dumps each node and deletes the items the
// node does not own under a topology (neither their read nor their write
// owner in its zone, replication.Placement), so that when ownership of a
// key comes back to a node it holds no copy older than the writes made
// while it did not own it. Gossiping zonecached fleets do this by
// themselves at every change (server.PurgeUnowned); fleets without gossip
// (stock memcached, static topologies) run Purge, or "zonecache purge",
// after each change once every client uses the new topology, and again
// once the clients' view lag has passed.
package warm
