package replication

import (
	"errors"
	"fmt"
	"strings"
)

// WritePolicy says how many replica writes must succeed before a replicated
// write is acknowledged to the caller. Only replicas whose state counts for
// the policy (serving) are counted; write-only replicas are written to but
// never counted.
type WritePolicy uint8

// The write policies, EVCache's latch policies by other names.
const (
	// AllMinusOne waits for every counted replica but one (at least one).
	// It is the default: one slow or dead zone does not fail writes.
	AllMinusOne WritePolicy = iota
	// None acknowledges at once and writes in the background.
	None
	// One waits for one counted replica.
	One
	// Quorum waits for a majority of counted replicas.
	Quorum
	// All waits for every counted replica.
	All
)

// ErrUnknownPolicy is returned by ParseWritePolicy for an unknown name.
var ErrUnknownPolicy = errors.New("unknown write policy")

var policyNames = [...]string{
	AllMinusOne: "all-minus-one",
	None:        "none",
	One:         "one",
	Quorum:      "quorum",
	All:         "all",
}

// String returns the policy's name as ParseWritePolicy accepts it.
func (p WritePolicy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("WritePolicy(%d)", uint8(p))
}

// ParseWritePolicy parses a policy name: none, one, quorum, all-minus-one or
// all (case-insensitive; underscores may stand for dashes).
func ParseWritePolicy(s string) (WritePolicy, error) {
	name := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	for p, n := range policyNames {
		if n == name {
			return WritePolicy(p), nil
		}
	}
	return 0, fmt.Errorf("%w %q (want none, one, quorum, all-minus-one or all)", ErrUnknownPolicy, s)
}

// Required is how many of counted successful replica writes the policy needs.
// It never exceeds counted; with no counted replicas it is 0.
func (p WritePolicy) Required(counted int) int {
	if counted <= 0 {
		return 0
	}
	switch p {
	case None:
		return 0
	case One:
		return 1
	case Quorum:
		return counted/2 + 1
	case All:
		return counted
	default: // AllMinusOne
		if counted == 1 {
			return 1
		}
		return counted - 1
	}
}
