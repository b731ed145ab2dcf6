package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
	"github.com/zonecache/zonecache/warm"
)

// savedFlags are the flags of a reshard that --resume reads back from
// CHECKPOINT.cli when the resuming command line does not give them.
type savedFlags struct {
	Seeds        string            `json:"seeds,omitempty"`
	Admin        map[string]string `json:"admin,omitempty"`
	TokenFile    string            `json:"admin_token_file,omitempty"`
	Topology     string            `json:"topology,omitempty"`
	Intermediate string            `json:"write_intermediate,omitempty"`
	Switch       string            `json:"write_switch,omitempty"`
	Target       string            `json:"write_target,omitempty"`
	ViewLag      time.Duration     `json:"view_lag"`
	SkipExpiring time.Duration     `json:"skip_expiring"`
}

// runReshard carries out the reshard, or continues the one of
// --checkpoint, step by step, printing each.
func (f *reshardFlags) runReshard(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	if err := f.saveOrLoad(fs); err != nil {
		return err
	}
	cfg, err := f.runConfig(ctx, stdout, stderr)
	if err != nil {
		return err
	}
	var r *reshard.Reshard
	if f.resume {
		r, err = reshard.Open(cfg)
	} else {
		r, err = reshard.New(cfg)
	}
	if err != nil {
		return err
	}
	through := reshard.StepCleanup
	for planned := false; r.Done() < through; {
		if r.Done() >= reshard.StepPlan && !planned {
			if through, err = f.through(ctx, r, cfg.Fleet); err != nil {
				return err
			}
			planned = true
			continue
		}
		if err := f.step(ctx, r, stdout); err != nil {
			return err
		}
	}
	return f.finish(r, stdout, stderr)
}

// step carries out the next step, printing the plan and the copy's result.
func (f *reshardFlags) step(ctx context.Context, r *reshard.Reshard, stdout io.Writer) error {
	switch r.Done() {
	case reshard.StepNone:
		plan, err := r.Plan(ctx)
		if err != nil {
			return f.interrupted(err, reshard.StepPlan)
		}
		if f.json {
			return writePlanJSON(stdout, plan, f)
		}
		return writePlan(stdout, plan, f)
	case reshard.StepIntermediate:
		start := time.Now()
		plan, st, err := r.Copy(ctx)
		if plan == nil {
			return f.interrupted(err, reshard.StepCopy)
		}
		return f.report(stdout, plan, st, time.Since(start), err)
	case reshard.StepCutover:
		st, err := r.Cleanup(ctx)
		if err != nil || !f.json {
			return f.interrupted(err, reshard.StepCleanup)
		}
		return json.NewEncoder(stdout).Encode(doneJSON{Done: reshard.StepCleanup, Purge: st})
	}
	return f.interrupted(r.Next(ctx), r.Done()+1)
}

// doneJSON is the --json form of the end of a reshard.
type doneJSON struct {
	Done  reshard.Step    `json:"done"`
	Purge warm.PurgeStats `json:"purge"`
}

// interrupted says how to continue a step that ctx's end interrupted.
func (f *reshardFlags) interrupted(err error, step reshard.Step) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("interrupted in step %v (%w): rerun with --resume --checkpoint %s to continue", step, err, f.checkpoint)
	}
	return err
}

// through returns the last step the command has the means to carry out:
// the copy, unless it can tell the clients to use the switch and the
// target (a gossiping fleet: the admin address of every node whose state
// or weight either changes, given, or among the seeds when the command has
// an admin token to send; a static one: --write-target). It refuses a static fleet whose clients do not
// write to the new owners yet, with no --write-intermediate.
func (f *reshardFlags) through(ctx context.Context, r *reshard.Reshard, fleet reshard.Fleet) (reshard.Step, error) {
	cur, mid, tgt := r.Topologies()
	if f.seeds == "" {
		if f.midOut == "" && !reshard.SameNodes(cur, mid) {
			return 0, fmt.Errorf("%w: clients do not write to the new owners yet: give --write-intermediate FILE (the file the clients load: the command writes it, with the new nodes warming and the leaving ones draining, and waits --view-lag), or have the clients load such a topology and give it as --topology",
				reshard.ErrNotReady)
		}
		if f.targetOut == "" {
			return reshard.StepCopy, nil
		}
		return reshard.StepCleanup, nil
	}
	adminOf := func(id string) string { return f.admin[id] }
	if gf, ok := fleet.(*reshard.GossipFleet); ok && gf.AdminToken != "" {
		adminOf = func(id string) string { return gf.AdminAddr(ctx, id) }
	}
	sw := r.SwitchTopology()
	for _, n := range sw.Nodes {
		m, _ := mid.Node(n.ID)
		t, kept := tgt.Node(n.ID)
		if (reshard.Changes(m, n) || kept && reshard.Changes(n, t)) && adminOf(n.ID) == "" {
			return reshard.StepCopy, nil
		}
	}
	return reshard.StepCleanup, nil
}

// finish says what is done and, after a copy only, what is left to do.
func (f *reshardFlags) finish(r *reshard.Reshard, stdout, stderr io.Writer) error {
	w := stdout
	if f.json {
		w = stderr
	}
	if r.Done() == reshard.StepCleanup {
		_, _, tgt := r.Topologies()
		fmt.Fprintf(w, "reshard done: clients use the target (%d nodes); the moved items are purged from their previous owners\n", len(tgt.Nodes))
		return nil
	}
	need := "--write-target FILE (the file the clients load)"
	if f.seeds != "" {
		need = "--admin ID=HOST:PORT of every node whose state or weight changes"
	}
	fmt.Fprintf(w, "copy done; the cutover needs %s: rerun with --resume --checkpoint %s and it, or by hand: promote the new nodes, remove the leaving ones, wait for the clients, then zonecache purge\n",
		need, f.checkpoint)
	return nil
}

// runConfig returns the reshard's config from the flags.
func (f *reshardFlags) runConfig(ctx context.Context, stdout, stderr io.Writer) (reshard.RunConfig, error) {
	cfg := reshard.RunConfig{FromZone: f.fromZone, SkipExpiring: f.skipExpiring, Copy: f.copyConfig(),
		Checkpoint: f.checkpoint, ViewLag: f.viewLag, Say: f.sayer(stdout, stderr)}
	cfg.Copy.Checkpoint = ""
	if f.viewLag == 0 {
		cfg.ViewLag = -1
	}
	var err error
	if cfg.Fleet, err = f.fleet(ctx); err != nil || f.resume {
		return cfg, err
	}
	if f.target != "" {
		cfg.Target, err = loadTopology(f.target)
		return cfg, err
	}
	cfg.Change, err = f.change()
	return cfg, err
}

// fleet returns the fleet of --seeds (gossiping) or --topology (static,
// published through --write-intermediate and --write-target).
func (f *reshardFlags) fleet(ctx context.Context) (reshard.Fleet, error) {
	if f.seeds != "" {
		token, err := readToken(*f.tokenFile)
		if err != nil {
			return nil, err
		}
		return &reshard.GossipFleet{Seeds: splitList(f.seeds), Admin: f.admin, AdminToken: token}, nil
	}
	cur, err := loadTopology(f.topology)
	if err != nil {
		return nil, err
	}
	return &reshard.StaticFleet{Current: cur, Write: func(_ context.Context, step reshard.Step, t replication.Topology) error {
		path := f.targetOut
		switch {
		case step == reshard.StepIntermediate:
			path = f.midOut
		case step == reshard.StepSwitch && f.switchOut != "":
			path = f.switchOut
		}
		if path == "" {
			return fmt.Errorf("no file to write the %v topology to", step)
		}
		return writeTopology(path, t)
	}}, nil
}

// sayer prints what each step does, the copy's result aside (report
// prints it): on stdout, or stderr with --json.
func (f *reshardFlags) sayer(stdout, stderr io.Writer) func(reshard.Step, string) {
	w := stdout
	if f.json {
		w = stderr
	}
	return func(step reshard.Step, msg string) {
		if step != reshard.StepCopy {
			fmt.Fprintf(w, "%s: %s\n", step, msg)
		}
	}
}

// saveOrLoad writes the fleet flags next to a new checkpoint, or, with
// --resume, reads those the command line does not give.
func (f *reshardFlags) saveOrLoad(fs *flag.FlagSet) error {
	path := f.checkpoint + ".cli"
	if !f.resume {
		b, err := json.Marshal(savedFlags{Seeds: f.seeds, Admin: f.admin, TokenFile: *f.tokenFile, Topology: f.topology, Intermediate: f.midOut,
			Switch: f.switchOut, Target: f.targetOut, ViewLag: f.viewLag, SkipExpiring: f.skipExpiring})
		if err != nil {
			return err
		}
		return os.WriteFile(path, b, 0o644)
	}
	var s savedFlags
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", reshard.ErrCheckpoint, path, err)
	}
	f.adopt(fs, s)
	return nil
}

// adopt takes the saved flags that fs was not given.
func (f *reshardFlags) adopt(fs *flag.FlagSet, s savedFlags) {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for name, v := range map[string]struct {
		dst *string
		val string
	}{"seeds": {&f.seeds, s.Seeds}, "topology": {&f.topology, s.Topology},
		"write-intermediate": {&f.midOut, s.Intermediate}, "write-switch": {&f.switchOut, s.Switch}, "write-target": {&f.targetOut, s.Target}} {
		if !set[name] {
			*v.dst = v.val
		}
	}
	if !set["view-lag"] {
		f.viewLag = s.ViewLag
	}
	if !set["admin-token-file"] && s.TokenFile != "" {
		*f.tokenFile = s.TokenFile
	}
	if !set["skip-expiring"] {
		f.skipExpiring = s.SkipExpiring
	}
	for id, addr := range s.Admin {
		if _, given := f.admin[id]; !given {
			f.admin[id] = addr
		}
	}
}

// adminFlag is a repeatable ID=HOST:PORT flag.
type adminFlag map[string]string

func (a adminFlag) String() string {
	var out []string
	for id, addr := range a {
		out = append(out, id+"="+addr)
	}
	return strings.Join(out, ",")
}

func (a adminFlag) Set(s string) error {
	for _, p := range splitList(s) {
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return fmt.Errorf("want ID=HOST:PORT")
		}
		a[id] = addr
	}
	return nil
}

func loadTopology(path string) (replication.Topology, error) {
	r, err := os.Open(path)
	if err != nil {
		return replication.Topology{}, err
	}
	defer r.Close()
	return replication.DecodeTopology(r)
}
