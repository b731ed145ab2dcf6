// Command zonecache is the admin CLI of a zonecache fleet.
//
//	zonecache status  --seeds HOST:PORT[,HOST:PORT...] [--timeout D]
//	zonecache promote --admin HOST:PORT [--to serving] [--timeout D]
//	zonecache warm    --seeds HOST:PORT[,...] --node ID --from-zone ZONE [--rate N] [--concurrency N] [--timeout D]
//	zonecache purge   (--seeds HOST:PORT[,...] | --topology FILE) [--nodes ID,...] [--concurrency N] [--timeout D]
//
// status prints every node of the fleet (id, zone, cache address, state and
// its item count from `stats`, or - when the node does not answer).
// promote moves a node to another state through its admin endpoint
// (POST /state?to=serving by default), typically a warming node once warmed.
// warm copies to a warming node the items it owns from another zone's
// replicas (package warm) and prints what it did. purge deletes from each
// node the items it does not own under the topology (warm.Purge), for fleets
// without gossip after a change of ownership.
//
// Seeds and --admin are admin HTTP addresses (zonecached --admin-addr).
// Exit status: 0 on success, 1 when the operation failed (for warm: any item
// failed), 2 on a usage error.
package main
