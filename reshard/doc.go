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
// dry run: it changes nothing.
package reshard
