package consistency

import "errors"

var (
	// errMalformed: a writer subprocess printed a line ReadLines cannot read.
	errMalformed = errors.New("consistency: malformed writer line")
	// ErrFaultNotInjected is wrapped when a fault could not be injected or
	// its effect was not observed (the node did not stop, the link stayed
	// up): the run then proves nothing and fails.
	ErrFaultNotInjected = errors.New("consistency: fault not injected")
	// ErrNotApplicable is wrapped when a fault does not apply to a server
	// kind (a node join to stock memcached, a gossip partition without gossip).
	ErrNotApplicable = errors.New("consistency: fault does not apply")
)
