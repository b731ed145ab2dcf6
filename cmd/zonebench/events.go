package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/replication"
)

// errBadEvent is wrapped by every --event error.
var errBadEvent = errors.New("bad event")

// eventEnv gives events the targets, which are opened after the flags are
// parsed.
type eventEnv struct {
	fleet interface{ Client() *client.Client } // set when the target is a fleet
}

// eventFlags collects repeated --event AT=COMMAND flags.
type eventFlags struct {
	list []bench.Event
	env  *eventEnv
}

// String implements flag.Value.
func (e *eventFlags) String() string {
	if e == nil {
		return ""
	}
	var parts []string
	for _, ev := range e.list {
		parts = append(parts, ev.At.String()+"="+ev.Label)
	}
	return strings.Join(parts, " ")
}

// Set implements flag.Value.
func (e *eventFlags) Set(s string) error {
	if e.env == nil {
		e.env = &eventEnv{}
	}
	ev, err := parseEvent(s, e.env)
	if err != nil {
		return err
	}
	e.list = append(e.list, ev)
	return nil
}

// topologyPrefix starts an event that gives a fleet target's client a new
// topology from a JSON file instead of running a command.
const topologyPrefix = "topology="

// parseEvent reads "AT=COMMAND": at offset AT (a Go duration such as 10s)
// into the measured phase, COMMAND runs through /bin/sh -c, or, as
// "topology=FILE.json", the fleet target's client switches to the topology
// in FILE (read when the event fires). The label is the command.
func parseEvent(s string, env *eventEnv) (bench.Event, error) {
	at, cmd, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(cmd) == "" {
		return bench.Event{}, fmt.Errorf("event %q: want AT=COMMAND, e.g. 10s='kill -STOP 1234': %w", s, errBadEvent)
	}
	d, err := time.ParseDuration(strings.TrimSpace(at))
	if err != nil || d < 0 {
		return bench.Event{}, fmt.Errorf("event %q: %q is not a duration ≥ 0: %w", s, at, errBadEvent)
	}
	cmd = strings.TrimSpace(cmd)
	if path, ok := strings.CutPrefix(cmd, topologyPrefix); ok {
		if strings.TrimSpace(path) == "" {
			return bench.Event{}, fmt.Errorf("event %q: topology= needs a file: %w", s, errBadEvent)
		}
		return bench.Event{At: d, Label: cmd, Do: func(context.Context) error { return setTopology(env, path) }}, nil
	}
	return bench.Event{At: d, Label: cmd, Do: func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, "/bin/sh", "-c", cmd).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(string(out)))
		}
		return nil
	}}, nil
}

// setTopology loads path and hands it to the fleet target's client.
func setTopology(env *eventEnv, path string) error {
	if env == nil || env.fleet == nil {
		return fmt.Errorf("topology event: the target is not a fleet: %w", errBadEvent)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("topology event: %w", err)
	}
	defer f.Close()
	topo, err := replication.DecodeTopology(f)
	if err != nil {
		return fmt.Errorf("topology event %s: %w", path, err)
	}
	if err := env.fleet.Client().SetTopology(topo); err != nil {
		return fmt.Errorf("topology event %s: %w", path, err)
	}
	return nil
}
