// Package discovery keeps a client's view of the fleet current. Given the
// admin HTTP addresses of a few seed servers, it fetches the fleet's
// topology from all of them at once (GET /topology, served by package
// membership) and bootstraps from the largest view, so never from the
// minority side of a partition when a seed of the majority answers (see
// Fetch), then watches for changes with long polls and hands every new topology to
// a callback, typically (*client.Client).SetTopology.
//
// A client never drops to an empty topology because seeds are down: a
// failed fetch keeps the last topology and retries the next seed with
// backoff, a topology with no nodes is never applied, and a view that
// drops more than half of the serving nodes, or every serving node of a
// zone, applies only once a second seed confirms it (see Watch): a seed
// restarted standalone or cut off from the fleet cannot empty a client's
// view on its own.
//
// It asks each seed through package admin, the client of one node's admin
// endpoint, which also moves a node between states (promote, drain).
package discovery
