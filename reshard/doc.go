// Package reshard changes the shape of a fleet without going cold: it
// grows a zone, shrinks it, changes weights, replaces nodes, and adds or
// removes a zone, copying to each key's new owner, before the cutover, the
// items whose owner changes.
//
// NewPlan compares the current topology with the target one (Change.Apply
// makes a target from edits) through replication.Placement, the one
// placement rule clients use: it lists each source node's items with
// `lru_crawler metadump all` (warm.Dump) and keeps, per pair of nodes, the
// items whose read owner changes in their zone, and every item of FromZone
// for a zone the target adds, hottest first (metadump's la). Items that
// expire within Config.SkipExpiring, and items on a node that does not
// serve their reads (left over from an earlier change, maybe old), are
// not copied. Counting and bytes come from the dump alone, so a plan is a
// dry run: it changes nothing. Stray items of keys their node takes over
// are listed in Plan.Stale.
//
// Copy carries a plan out, before the cutover: it deletes the stale keys
// (add would keep them; it copies nothing until all are gone), then copies the items hottest first across all
// moves, each read from its source and added to its destination with its
// remaining TTL (warm.CopyChecked: add never overwrites a newer value,
// and a copy that a delete made meanwhile would outlive is undone), through
// the nodes' batch pools, within a rate in items and in bytes per second
// and a concurrency limit. With CopyConfig.Checkpoint it writes the plan
// next to a checkpoint file, and which items of each move are done to it,
// so that Resume continues an interrupted copy. Run it while the
// destinations already receive the live writes of the keys they take
// (new nodes warming, leaving nodes draining). CopyConfig.Progress and
// MoveProgress report the copy as it goes (totals, and per move the items
// and bytes copied and left), for a display or metrics.
//
// WarmPlan makes a warm-up (warm.Warm: a warming node filled from another
// zone) such a plan, so that Copy and Resume carry it out resumably.
//
// Reshard carries out a whole reshard, one step at a time, on a Fleet:
// Plan (the target and the intermediate topology, checked; a preview plan;
// nothing changes), Intermediate (clients write to the new owners, and
// read no more from a zone the target removes; nodes new to the clients
// are emptied first), Copy (planned again from the
// intermediate topology), SwitchReads (clients read the new owners and
// still write to the old ones too: Switch; first, 32 of the items copied
// to each node, spread from the hottest to the coldest, are read back, and
// when fewer than three quarters are there the node lost them, a restart,
// a flush or a fence's invalidation, and the copy runs again, once, so
// that reads do not move to a cold node), Cutover (clients use the
// target) and Cleanup
// (the copied keys deleted from their previous owners, then warm.Purge of
// every node of the changed zones under the target, so ownership moving
// back finds no old copy). Run calls the steps not done; with RunConfig.Checkpoint
// each step done is recorded and Open continues at the next one, an
// interrupted copy where it stopped. After each change of topology it
// waits RunConfig.ViewLag, the clients' lag, so that clients use at most
// two adjacent topologies at a time, and in each pair every key is written
// to the node the other reads it from: no reader is left on an old owner
// that writers no longer reach. It refuses, before anything
// changes and wrapping ErrConfig or ErrUnsettled with what to do, a
// topology in the middle of a change (a node that does not answer, one
// warming, joining, draining or reweighting from an unfinished change),
// and a zone left with no serving node during the copy. A weight change
// is copied warm with the node's replication.Node.NextWeight in the
// intermediate topology (writes placed with it, reads with its weight),
// and the new weight with the old one as NextWeight in the switch; a
// gossiping zonecached node advertises both, set through its admin
// endpoint (POST /weight). A node started with --weight-file keeps the new
// weight across a restart; one without must be restarted with the new
// --weight.
//
// A GossipFleet is gossiping zonecached: new nodes are started warming
// by the operator, then set draining at the switch and serving at the
// cutover, leaving ones set draining, then warming at the switch, through
// their admin endpoint (GossipFleet.Admin's, or a seed that answers GET
// /node with the node's id), and each change counts once every seed shows
// it. The nodes a step changes are changed at once: gossip brings each
// node's change to clients on its own, so no order among them holds for
// clients anyway, and one after the other only kept them longer in the
// views between.
// A leaving node serves reads and takes writes of its keys (draining) for
// as long as the copy takes, then writes only (warming) from the switch;
// at the cutover GossipFleet.Stop stops it (every leaving node at once),
// or the operator is asked to
// (SIGTERM: it leaves the fleet and serves no hits, within its
// --drain-timeout). A zonecached node also purges, when its view has the
// switch, the keys whose reads it no longer serves: a reader whose view
// lags the node's misses there and reads another zone. A StaticFleet is a fleet whose clients load a topology
// (stock memcached): Write publishes the intermediate, the switch and the
// target, in turn.
package reshard
