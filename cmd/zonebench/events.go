package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/zonecache/zonecache/bench"
)

// errBadEvent is wrapped by every --event error.
var errBadEvent = errors.New("bad event")

// eventFlags collects repeated --event AT=COMMAND flags.
type eventFlags []bench.Event

// String implements flag.Value.
func (e *eventFlags) String() string {
	var parts []string
	for _, ev := range *e {
		parts = append(parts, ev.At.String()+"="+ev.Label)
	}
	return strings.Join(parts, " ")
}

// Set implements flag.Value.
func (e *eventFlags) Set(s string) error {
	ev, err := parseEvent(s)
	if err != nil {
		return err
	}
	*e = append(*e, ev)
	return nil
}

// parseEvent reads "AT=COMMAND": at offset AT (a Go duration such as 10s)
// into the measured phase, COMMAND runs through /bin/sh -c; its label on
// reports and charts is the command.
func parseEvent(s string) (bench.Event, error) {
	at, cmd, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(cmd) == "" {
		return bench.Event{}, fmt.Errorf("event %q: want AT=COMMAND, e.g. 10s='kill -STOP 1234': %w", s, errBadEvent)
	}
	d, err := time.ParseDuration(strings.TrimSpace(at))
	if err != nil || d < 0 {
		return bench.Event{}, fmt.Errorf("event %q: %q is not a duration ≥ 0: %w", s, at, errBadEvent)
	}
	cmd = strings.TrimSpace(cmd)
	return bench.Event{At: d, Label: cmd, Do: func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, "/bin/sh", "-c", cmd).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(string(out)))
		}
		return nil
	}}, nil
}
