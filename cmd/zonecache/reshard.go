package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zonecache/zonecache/internal/tlsflag"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/reshard"
)

const reshardSynopsis = `reshard (--seeds HOST:PORT[,...] [--admin ID=HOST:PORT]... | --topology FILE [--write-intermediate FILE] [--write-switch FILE] [--write-target FILE])
         (--target FILE | [--add ZONE/ID/HOST:PORT[/WEIGHT]]... [--remove ID]... [--weight ID=W]...
          [--remove-zone ZONE]... [--from-zone ZONE])
         (--dry-run | --checkpoint FILE) [--view-lag D] [--json] [--rate N] [--bytes-rate N] [--concurrency N]
       zonecache reshard --resume --checkpoint FILE [--admin ID=HOST:PORT]... [--write-target FILE] [--rate N] ...

Changes the fleet's shape without going cold, in six steps, each printed as it runs:
  plan          the target, checked; which items change owner, from which node to which, their count
                and bytes (from each source node's lru_crawler metadump), hottest first, and how long
                copying them takes at --rate and --bytes-rate. Nothing changes yet.
  intermediate  clients write to the new owners: the new nodes warming (writes, no reads), the leaving
                ones draining (reads, no new keys); then the command waits --view-lag for the clients.
  copy          the items that change owner are added to their new owners (add: a newer value written
                meanwhile is kept), hottest first, within the rates.
  switch        clients read the new owners and still write to the old ones too: the new nodes draining
                (reads), the leaving ones warming (writes); then --view-lag. No client is left reading an
                old owner when the cutover stops writing to it.
  cutover       clients use the target: the new nodes serving, the leaving ones gone; then --view-lag.
  cleanup       the moved items are purged from their previous owners (and from every node of the
                changed zones, the items it does not own), so that ownership moving back cannot
                resurrect them.
Gossiping zonecached fleets (--seeds): start each new node first, in state warming (zonecached --state
warming --join ...), and give the admin address of each node whose state or weight changes (--admin,
or among the seeds: each seed says whose it is); the
command sets their states through it, and waits until every seed shows each change. A
leaving node keeps serving reads, draining, for as long as the copy takes; at the cutover the command
says when to stop it (SIGTERM: it leaves the fleet, then drains for its --drain-timeout) and waits
until the fleet drops it. Static fleets such as stock memcached (--topology): the command writes the
intermediate topology to --write-intermediate, the switch to --write-switch (default: the
--write-target file) and the target to --write-target, the file(s) the clients load, each in turn;
without --write-target it stops after the copy and says what is left.

The target is a topology file (--target) or edits of the current topology:
  --add a/a-3/10.0.0.7:11211      add node a-3 to zone a (a new zone when a has no node serving yet;
                                  --from-zone then names the zone whose replicas fill it)
  --remove a-1                    remove node a-1 (its items go to the zone's other nodes)
  --weight a-2=3                  change a node's weight (during the copy the clients place writes
                                  with the next weight; a gossiping node advertises it, set through
                                  --admin; it keeps it across a restart with --weight-file, or
                                  restart it with --weight 3)
  --remove-zone d                 remove zone d and its nodes (nothing to copy)
A replacement is an --add and a --remove. Flags that take a list may be repeated or given a
comma-separated list.

It refuses to start, saying what to do, while the topology is unsettled (a listed node that does not
answer, a node warming or joining that the change does not add, or draining or reweighting that it
keeps: an unfinished change) and when a zone would be left with no serving node during the copy. --dry-run prints the plan and changes nothing. Each step done is
recorded in the --checkpoint file (the copy's progress in FILE.copy): Ctrl-C, or --timeout, stops the
command, and --resume continues at the step it stopped in.`

// reshardFlags are the parsed flags of the reshard command.
type reshardFlags struct {
	seeds, topology, target, fromZone string
	targetOut, midOut, switchOut      string
	checkpoint                        string
	tokenFile                         *string
	authFile                          string
	add, remove, weight, removeZone   listFlag
	admin                             adminFlag
	skipExpiring, timeout, viewLag    time.Duration
	rate                              float64
	bytesRate                         byteRate
	concurrency                       int
	dryRun, resume, json              bool
	watch                             watch // progress display and metrics (progress.go)
	tls                               tlsflag.Client
	node                              nodeclient.Config // from tls, after check
}

// listFlag is a repeatable flag whose values may be comma-separated lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, splitList(s)...)
	return nil
}

// byteRate is a bytes-per-second flag with an optional K, M or G suffix
// (powers of 1024).
type byteRate float64

func (b *byteRate) String() string {
	v := int64(*b)
	for i := 2; i >= 0; i-- {
		if u := int64(1) << (10 * (i + 1)); v >= u && v%u == 0 {
			return fmt.Sprintf("%d%c", v/u, "KMG"[i])
		}
	}
	return strconv.FormatInt(v, 10)
}

func (b *byteRate) Set(s string) error {
	mult := 1.0
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMG", s[n-1]&^0x20); i >= 0 {
			mult, s = float64(int64(1)<<(10*(i+1))), s[:n-1]
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("want a number of bytes >= 0, with an optional K, M or G")
	}
	*b = byteRate(v * mult)
	return nil
}

func reshardFlagSet(stderr io.Writer) (*flag.FlagSet, *reshardFlags) {
	fs := newFlags("reshard", reshardSynopsis, stderr)
	f := &reshardFlags{bytesRate: 50 << 20, admin: adminFlag{}}
	fs.StringVar(&f.seeds, "seeds", "", "comma-separated admin HTTP addresses (host:port or URL) to fetch the current topology from")
	fs.StringVar(&f.topology, "topology", "", "current topology `file` (JSON, as /topology serves it); instead of --seeds, for fleets without gossip such as stock memcached")
	fs.StringVar(&f.target, "target", "", "target topology `file` (JSON); instead of --add, --remove, --weight and --remove-zone")
	fs.Var(&f.add, "add", "add a node: `ZONE/ID/HOST:PORT[/WEIGHT]` (repeatable)")
	fs.Var(&f.remove, "remove", "remove the node with this `ID` (repeatable)")
	fs.Var(&f.weight, "weight", "set a node's weight: `ID=W` (repeatable)")
	fs.Var(&f.removeZone, "remove-zone", "remove this `ZONE` and every node in it (repeatable)")
	fs.StringVar(&f.authFile, "auth-file", "", authFileUsage)
	fs.StringVar(&f.fromZone, "from-zone", "", "zone whose replicas fill the zones the target adds (required when it adds one)")
	fs.DurationVar(&f.skipExpiring, "skip-expiring", reshard.DefaultSkipExpiring, "items expiring within this are not copied")
	fs.Float64Var(&f.rate, "rate", 5000, "items copied per second at most (and the estimate's rate); 0 means no limit")
	fs.Var(&f.bytesRate, "bytes-rate", "bytes copied per second at most (suffix K, M or G); 0 means no limit")
	fs.IntVar(&f.concurrency, "concurrency", reshard.DefaultConcurrency, "items copied at once")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan and change nothing")
	fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint `file`: the last step done (and FILE.copy, the copy's progress; FILE.cli, the fleet's flags); required without --dry-run")
	fs.BoolVar(&f.resume, "resume", false, "continue the interrupted reshard of --checkpoint at the step it stopped in")
	fs.BoolVar(&f.json, "json", false, "print the plan, and the copy's result, as JSON, for scripts (the steps' lines go to stderr)")
	fs.StringVar(&f.targetOut, "write-target", "", "write the target topology to this `file` (JSON): the file clients of a static fleet load; written at the cutover (at once with --dry-run)")
	fs.StringVar(&f.switchOut, "write-switch", "", "write to this `file` (JSON) the topology clients use between the copy and the cutover: reads on the new owners, writes to the old ones too; written after the copy (at once with --dry-run; default: the --write-target file)")
	fs.StringVar(&f.midOut, "write-intermediate", "", "write to this `file` (JSON) the topology clients use during the copy: new nodes warming, leaving ones draining; written before the copy (at once with --dry-run)")
	fs.Var(f.admin, "admin", "admin address of a node whose state the reshard changes, on a gossiping fleet: `ID=HOST:PORT` (repeatable)")
	f.tokenFile = tokenFileFlag(fs)
	fs.DurationVar(&f.viewLag, "view-lag", reshard.DefaultViewLag, "how long clients may take to use a topology every seed shows (discovery's watch delay), waited after the intermediate topology and after the cutover")
	fs.DurationVar(&f.timeout, "timeout", 0, "bound on the whole command; 0 means none")
	f.watch.flags(fs)
	f.tls.Register(fs)
	return fs, f
}

func reshardCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := reshardFlagSet(stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	var err error
	if f.node, err = nodeDial(f.tls, f.authFile); err != nil {
		return err
	}
	ctx, stop := stoppable(ctx, f.timeout)
	defer stop()
	stopWatch, err := f.watch.start(stderr, f.json, "reshard")
	if err != nil {
		return err
	}
	defer stopWatch()
	if !f.dryRun {
		return f.runReshard(ctx, fs, stdout, stderr)
	}
	change, err := f.change()
	if err != nil {
		return err
	}
	cur, tgt, err := f.topologies(ctx, change)
	if err != nil {
		return err
	}
	plan, err := reshard.NewPlan(ctx, reshard.Config{Current: cur, Target: tgt, FromZone: f.fromZone, SkipExpiring: f.skipExpiring, TLS: f.node.TLS, Auth: f.node.Auth})
	if err != nil {
		return err
	}
	if f.json {
		return writePlanJSON(stdout, plan, f)
	}
	return writePlan(stdout, plan, f)
}

// check checks the combination of flags.
func (f *reshardFlags) check() error {
	switch {
	case f.rate < 0 || f.concurrency <= 0 || f.viewLag < 0:
		return usageError{"--rate and --view-lag must be >= 0 and --concurrency > 0"}
	case f.resume && (f.dryRun || f.checkpoint == ""):
		return usageError{"--resume needs --checkpoint and no --dry-run"}
	case f.resume:
		return nil
	case (f.seeds == "") == (f.topology == ""):
		return usageError{"give one of --seeds and --topology"}
	case f.dryRun == (f.checkpoint != ""):
		return usageError{"give --dry-run, or --checkpoint to copy"}
	}
	return nil
}

// topologies returns the current and target topologies and writes those
// asked for.
func (f *reshardFlags) topologies(ctx context.Context, change reshard.Change) (cur, tgt replication.Topology, err error) {
	if cur, err = purgeTopology(ctx, f.seeds, f.topology); err != nil {
		return cur, tgt, err
	}
	if tgt, err = f.targetTopology(cur, change); err != nil {
		return cur, tgt, err
	}
	for _, w := range []struct {
		path string
		t    replication.Topology
	}{{f.midOut, reshard.Intermediate(cur, tgt)}, {f.switchOut, reshard.Switch(cur, tgt)}, {f.targetOut, tgt}} {
		if path, t := w.path, w.t; path != "" {
			if err := writeTopology(path, t); err != nil {
				return cur, tgt, err
			}
		}
	}
	return cur, tgt, nil
}

// change checks the flags and returns the edits they make (zero with
// --target).
func (f *reshardFlags) change() (reshard.Change, error) {
	var c reshard.Change
	edits := len(f.add)+len(f.remove)+len(f.weight)+len(f.removeZone) > 0
	if (f.target != "") == edits {
		return c, usageError{"give --target, or edits (--add, --remove, --weight, --remove-zone), not both or neither"}
	}
	c.Remove, c.RemoveZones = f.remove, f.removeZone
	for _, a := range f.add {
		n, err := parseAdd(a)
		if err != nil {
			return c, err
		}
		c.Add = append(c.Add, n)
	}
	for _, w := range f.weight {
		id, v, ok := strings.Cut(w, "=")
		n, err := strconv.Atoi(v)
		if !ok || id == "" || err != nil || n <= 0 {
			return c, usageError{fmt.Sprintf("--weight %q: want ID=W with W > 0", w)}
		}
		if c.Weights == nil {
			c.Weights = map[string]int{}
		}
		c.Weights[id] = n
	}
	return c, nil
}

// parseAdd parses ZONE/ID/HOST:PORT[/WEIGHT].
func parseAdd(s string) (replication.Node, error) {
	p := strings.Split(s, "/")
	bad := usageError{fmt.Sprintf("--add %q: want ZONE/ID/HOST:PORT[/WEIGHT]", s)}
	if len(p) < 3 || len(p) > 4 || p[0] == "" || p[1] == "" || p[2] == "" {
		return replication.Node{}, bad
	}
	n := replication.Node{Zone: p[0], ID: p[1], Addr: p[2]}
	if len(p) == 4 {
		w, err := strconv.Atoi(p[3])
		if err != nil || w <= 0 {
			return replication.Node{}, bad
		}
		n.Weight = w
	}
	return n, nil
}

func (f *reshardFlags) targetTopology(cur replication.Topology, c reshard.Change) (replication.Topology, error) {
	if f.target == "" {
		return c.Apply(cur)
	}
	return loadTopology(f.target)
}

func writeTopology(path string, t replication.Topology) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writePlan prints the plan as a table with a summary.
func writePlan(w io.Writer, p *reshard.Plan, f *reshardFlags) error {
	st := p.Stats
	eta := reshard.Estimate(p.Keys(), p.Bytes(), f.rate, float64(f.bytesRate))
	fmt.Fprintf(w, "plan: epoch %d -> %d: %d moves, %d keys, %s, about %v at %s\n",
		p.Current.Epoch, p.Target.Epoch, len(p.Moves), p.Keys(), humanBytes(p.Bytes()), eta.Round(time.Millisecond), f.rateText())
	fmt.Fprintf(w, "scanned %d items: %d moving, %d unchanged, %d expiring within %v, %d stray (not copied), %d malformed\n",
		st.Scanned, st.Moving, st.Unchanged, st.Expiring, f.skipExpiring, st.Stray, st.Malformed)
	if len(p.Moves) == 0 {
		_, err := fmt.Fprintln(w, "nothing to copy")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nZONE\tFROM\tTO\tKEYS\tBYTES\tTIME")
	for _, m := range p.Moves {
		n := int64(len(m.Items))
		fmt.Fprintf(tw, "%s\t%s (%s)\t%s (%s)\t%d\t%s\t%v\n", m.Zone, m.From.ID, m.From.Addr, m.To.ID, m.To.Addr, n,
			humanBytes(m.Bytes), reshard.Estimate(n, m.Bytes, f.rate, float64(f.bytesRate)).Round(time.Millisecond))
	}
	return tw.Flush()
}

func (f *reshardFlags) rateText() string {
	keys, bytes := "no key limit", "no byte limit"
	if f.rate > 0 {
		keys = fmt.Sprintf("%g keys/s", f.rate)
	}
	if f.bytesRate > 0 {
		bytes = humanBytes(int64(f.bytesRate)) + "/s"
	}
	return keys + " and " + bytes
}

// planJSON is the --json form of a plan: per move, counts, not keys.
type planJSON struct {
	CurrentEpoch uint64               `json:"current_epoch"`
	Target       replication.Topology `json:"target"`
	Keys         int64                `json:"keys"`
	Bytes        int64                `json:"bytes"`
	Seconds      float64              `json:"estimate_seconds"`
	Rate         float64              `json:"rate"`
	BytesRate    float64              `json:"bytes_rate"`
	Stats        reshard.Stats        `json:"stats"`
	Moves        []moveJSON           `json:"moves"`
}

type moveJSON struct {
	Zone     string  `json:"zone"`
	From     string  `json:"from"`
	FromAddr string  `json:"from_addr"`
	To       string  `json:"to"`
	ToAddr   string  `json:"to_addr"`
	Keys     int64   `json:"keys"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"estimate_seconds"`
}

func writePlanJSON(w io.Writer, p *reshard.Plan, f *reshardFlags) error {
	br := float64(f.bytesRate)
	out := planJSON{CurrentEpoch: p.Current.Epoch, Target: p.Target, Keys: p.Keys(), Bytes: p.Bytes(),
		Seconds: reshard.Estimate(p.Keys(), p.Bytes(), f.rate, br).Seconds(), Rate: f.rate, BytesRate: br,
		Stats: p.Stats, Moves: []moveJSON{}}
	for _, m := range p.Moves {
		n := int64(len(m.Items))
		out.Moves = append(out.Moves, moveJSON{Zone: m.Zone, From: m.From.ID, FromAddr: m.From.Addr, To: m.To.ID,
			ToAddr: m.To.Addr, Keys: n, Bytes: m.Bytes, Seconds: reshard.Estimate(n, m.Bytes, f.rate, br).Seconds()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// humanBytes formats n in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 2 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMG"[i])
}
