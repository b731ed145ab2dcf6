// Package admin is the client of a zonecached node's admin HTTP endpoint:
// the fleet's topology as the node sees it, the node's state (promote a
// warming node, drain a serving one), its gossip keyring (list, install,
// use and remove keys: rotation), its health and readiness. The CLI,
// package discovery, the resharder and tests all talk to nodes through it.
//
// The endpoints are served by package server (/healthz, /readyz, /metrics)
// and, on a fleet node, package membership (/topology, /state,
// /gossip/keys); a
// standalone node answers /topology and /state with 404 (ErrNoEndpoint).
//
// A request that changes a node (POST /state) carries Client.Token, the
// node's --admin-token-file read with ReadTokenFile; a node refuses it
// without (ErrUnauthorized). Reads need no token.
package admin
