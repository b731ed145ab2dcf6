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
// remaining TTL (warm.Copy: add never overwrites a newer value), through
// the nodes' batch pools, within a rate in items and in bytes per second
// and a concurrency limit. With CopyConfig.Checkpoint it writes the plan
// next to a checkpoint file, and which items of each move are done to it,
// so that Resume continues an interrupted copy. Run it while the
// destinations already receive the live writes of the keys they take
// (new nodes warming, leaving nodes draining). CopyConfig.Progress and
// MoveProgress report the copy as it goes (totals, and per move the items
// and bytes copied and left), for a display or metrics.
package reshard
