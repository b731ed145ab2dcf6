package client

import (
	"context"
	"time"
)

// Hooks are callbacks for tracing. Each is optional; they run on the
// request's goroutine (or a background one for background work) and must
// be quick and must not block. A tracer opens a call's span in OnStart,
// records its attempts as child spans in OnAttempt (their start is the
// event's time less its Duration) and ends the span in OnRequest.
type Hooks struct {
	// OnStart is called when a client call begins, before any request to
	// a node, with the call's operation and key (empty for GetMulti). The
	// context it returns is the call's from then on: OnAttempt (for the
	// call's own requests) and OnRequest receive it or one derived from
	// it. Every call that fires OnStart fires OnRequest once.
	OnStart func(ctx context.Context, op, key string) context.Context
	// OnAttempt is called after every request to one node, with the
	// caller's context (a background context for repairs).
	OnAttempt func(ctx context.Context, e AttemptEvent)
	// OnRequest is called when a client call returns.
	OnRequest func(ctx context.Context, e RequestEvent)
}

// AttemptEvent describes one request to one node.
type AttemptEvent struct {
	// Op is the operation: get, gat, lease, get_multi, set, add, delete,
	// repair, former_delete (a write's delete at a key's former owner,
	// Config.FormerOwnerWindow)...
	Op string
	// Zone, Node and Addr name the node.
	Zone, Node, Addr string
	// Key is the node's key of a request that changes one key (a write,
	// delete, touch, repair or read repair: those that keep the key's write
	// order); empty for reads.
	Key string
	// Class is the pool: "online" or "batch".
	Class string
	// Err is the node's answer; nil, a transport outcome (miss, not
	// stored) or a failure.
	Err error
	// Duration is the request's latency.
	Duration time.Duration
	// Keys and Hits, for a get_multi, are the keys asked of the node and
	// how many of them it returned; zero for other operations.
	Keys, Hits int
}

// RequestEvent describes one client call.
type RequestEvent struct {
	// Op is the operation.
	Op string
	// Key is the application's key (empty for GetMulti).
	Key string
	// Result is, for the calls that read one item (Get, GetAndTouch,
	// GetOrLoad), hit when the item came from the local zone, fallback_hit
	// when another zone had it, miss, or error; a GetOrLoad whose value was
	// loaded (not read from the cache) is ok. Other calls report ok, miss
	// (an error wrapping ErrCacheMiss) or error.
	Result string
	// Err is what the call returned.
	Err error
	// Duration is the call's latency.
	Duration time.Duration
}
