package replication

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPolicyNotMet is wrapped by Outcome.Err when too few counted replicas
// acknowledged a write.
var ErrPolicyNotMet = errors.New("write policy not met")

// ReplicaResult is what happened to one replica of a replicated operation.
type ReplicaResult struct {
	// Node is the replica.
	Node Node
	// Err is nil on success.
	Err error
}

// Outcome collects the results of one replicated write and decides, as they
// arrive, whether the write policy is met or can no longer be met. It is not
// safe for concurrent use: the client feeds it from one goroutine.
type Outcome struct {
	policy    WritePolicy
	counted   int // replicas that count for the policy
	required  int
	successes int // counted successes
	failures  int // counted failures
	results   []ReplicaResult
}

// NewOutcome starts an outcome for a write to replicas under policy.
func NewOutcome(policy WritePolicy, replicas []Node) *Outcome {
	o := &Outcome{policy: policy, results: make([]ReplicaResult, 0, len(replicas))}
	for _, n := range replicas {
		if n.EffectiveState().CountsForPolicy() {
			o.counted++
		}
	}
	o.required = policy.Required(o.counted)
	return o
}

// Add records one replica's result.
func (o *Outcome) Add(node Node, err error) {
	o.results = append(o.results, ReplicaResult{Node: node, Err: err})
	if !node.EffectiveState().CountsForPolicy() {
		return
	}
	if err == nil {
		o.successes++
	} else {
		o.failures++
	}
}

// Met reports whether enough counted replicas succeeded.
func (o *Outcome) Met() bool { return o.successes >= o.required }

// Decided reports whether the caller can be answered now: the policy is met,
// or so many counted replicas failed that it can no longer be met.
func (o *Outcome) Decided() bool {
	return o.Met() || o.counted-o.failures < o.required
}

// Results returns every result recorded so far, in arrival order.
func (o *Outcome) Results() []ReplicaResult { return o.results }

// Failed returns the results that carry an error.
func (o *Outcome) Failed() []ReplicaResult {
	var out []ReplicaResult
	for _, r := range o.results {
		if r.Err != nil {
			out = append(out, r)
		}
	}
	return out
}

// Err is nil when the policy is met, and otherwise an error wrapping
// ErrPolicyNotMet that names the failed replicas and, through errors.Is and
// errors.As, their errors.
func (o *Outcome) Err() error {
	if o.Met() {
		return nil
	}
	failed := o.Failed()
	errs := make([]error, 0, len(failed)+1)
	var names []string
	for _, r := range failed {
		names = append(names, r.Node.ID)
		errs = append(errs, fmt.Errorf("%s (%s): %w", r.Node.ID, r.Node.Zone, r.Err))
	}
	head := fmt.Errorf("%w: %s needs %d of %d replicas, %d succeeded (failed: %s)",
		ErrPolicyNotMet, o.policy, o.required, o.counted, o.successes, strings.Join(names, ", "))
	return errors.Join(append([]error{head}, errs...)...)
}
