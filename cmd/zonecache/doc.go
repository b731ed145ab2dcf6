// Command zonecache is the admin CLI of a zonecache fleet.
//
//	zonecache status  --seeds HOST:PORT[,HOST:PORT...] [--timeout D]
//	zonecache promote --admin HOST:PORT [--to serving] [--timeout D] [--admin-token-file FILE]
//	zonecache warm    (--seeds HOST:PORT[,...] | --topology FILE) --node ID --from-zone ZONE [--rate N] [--concurrency N] [--timeout D] [--json]
//	zonecache purge   (--seeds HOST:PORT[,...] | --topology FILE) [--nodes ID,...] [--concurrency N] [--timeout D]
//	zonecache reshard (--seeds ... --admin ID=ADDR ... | --topology FILE --write-intermediate F --write-target F)
//	                  (--target FILE | --add Z/ID/ADDR ... --remove ID ...) (--dry-run | --checkpoint FILE) [--view-lag D] [--json]
//	zonecache reshard --resume --checkpoint FILE
//	zonecache gossip-key (list | install | use | remove) --admin HOST:PORT[,...] [--key-file FILE] [--admin-token-file FILE]
//
// status prints every node of the fleet (id, zone, cache address, state and
// its item count from `stats`, or - when the node does not answer).
// promote moves a node to another state through its admin endpoint
// (POST /state?to=serving by default), typically a warming node once warmed.
// promote and reshard send the nodes' admin token, read from
// --admin-token-file (default $ZONECACHE_ADMIN_TOKEN_FILE).
// warm copies to a warming node the items it owns from another zone's
// replicas (package warm) and prints what it did; it refuses while a node
// it depends on does not answer (a dead node still listed), and Ctrl-C
// stops it with a summary of what is left (running it again continues).
// purge deletes from each node the items it does not own under the
// topology (warm.Purge), for fleets without gossip after a change of
// ownership.
// reshard changes the fleet's shape (package reshard): it plans which
// items change owner, from which node to which, their count, bytes and the
// time to copy them at a rate (--dry-run stops there), has the clients
// write to the new owners, copies the items, cuts over and purges the
// moved items from their previous owners, printing each step and what the
// operator must do; a checkpoint records the step done, and --resume
// continues there.
// gossip-key lists or changes the gossip keyring of each node named
// (admin.Client.GossipKeys and the like): install a new key everywhere,
// use it everywhere, then remove the old one rotates the key.
//
// status, warm, purge and reshard reach a fleet that serves TLS with
// --tls-ca, --tls-cert, --tls-key and --tls-server-name (nodeclient.Config.TLS).
//
// warm and reshard show their progress on stderr: a live table on a
// terminal (per pair of nodes: keys and bytes copied, left, rate, ETA),
// slog lines every --progress-every otherwise, JSON lines with --json;
// the result goes to stdout. --metrics-addr serves their Prometheus
// metrics (zonecache_warm_*, zonecache_reshard_*) at /metrics while they
// run.
//
// Seeds and --admin are admin HTTP addresses (zonecached --admin-addr).
// Exit status: 0 on success, 1 when the operation failed (for warm: any item
// failed), 2 on a usage error.
package main
