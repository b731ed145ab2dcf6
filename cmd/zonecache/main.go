package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/authfile"
	"github.com/zonecache/zonecache/internal/buildinfo"
	"github.com/zonecache/zonecache/internal/tlsflag"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: zonecache <command> [flags]

commands:
  status   print the fleet's nodes: id, zone, address, state, items
  promote  change a node's state through its admin endpoint (default: to serving)
  warm     copy to a warming node the items it owns, from another zone (progress, metrics, Ctrl-C summary)
  purge    delete from each node the items it does not own (fleets without gossip)
  reshard  change the fleet's shape: plan, intermediate, copy, cutover, clean-up (--dry-run: the plan)
  gossip-key  list or rotate the nodes' gossip keys: list, install, use, remove
  version  print the version (module version, VCS revision, Go version); also --version

Run "zonecache <command> -h" for the command's flags.
`

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "status":
		err = status(ctx, args[1:], stdout, stderr)
	case "promote":
		err = promote(ctx, args[1:], stdout, stderr)
	case "warm":
		err = warmCmd(ctx, args[1:], stdout, stderr)
	case "purge":
		err = purgeCmd(ctx, args[1:], stdout, stderr)
	case "reshard":
		err = reshardCmd(ctx, args[1:], stdout, stderr)
	case "gossip-key":
		err = gossipKeyCmd(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "zonecache", buildinfo.Read())
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "zonecache: unknown command %q\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "zonecache %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "zonecache %s: %v\n", args[0], err)
		return 1
	}
}

// tokenEnv names the environment variable that gives --admin-token-file
// its default.
const tokenEnv = "ZONECACHE_ADMIN_TOKEN_FILE"

// tokenFileFlag defines --admin-token-file on fs.
func tokenFileFlag(fs *flag.FlagSet) *string {
	return fs.String("admin-token-file", os.Getenv(tokenEnv), "`file` holding the nodes' admin token (their --admin-token-file, mode 0600), sent on every admin call; default $"+tokenEnv)
}

// readToken reads the admin token file at path; no path, no token.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	return admin.ReadTokenFile(path)
}

// usageError is a bad command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("zonecache "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: zonecache %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; a flag error is a usageError (already reported by fs).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func fetch(ctx context.Context, seeds string, timeout time.Duration) (replication.Topology, error) {
	list := splitList(seeds)
	if len(list) == 0 {
		return replication.Topology{}, usageError{"--seeds is required"}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return discovery.Fetch(ctx, discovery.Config{Seeds: list, RequestTimeout: timeout})
}

func status(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "status --seeds HOST:PORT[,...]", stderr)
	seeds := fs.String("seeds", "", "comma-separated admin HTTP addresses (host:port or URL) to fetch the topology from (required)")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on fetching the topology and on each node's stats")
	var tf tlsflag.Client
	tf.Register(fs)
	authFile := fs.String("auth-file", "", authFileUsage)
	if err := parse(fs, args); err != nil {
		return err
	}
	dial, err := nodeDial(tf, *authFile)
	if err != nil {
		return err
	}
	top, err := fetch(ctx, *seeds, *timeout)
	if err != nil {
		return err
	}
	nodes := slices.Clone(top.Nodes)
	slices.SortFunc(nodes, func(a, b replication.Node) int {
		return cmp.Or(cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.ID, b.ID))
	})
	items := make([]string, len(nodes))
	done := make(chan struct{})
	for i, n := range nodes {
		go func() {
			defer func() { done <- struct{}{} }()
			items[i] = "-"
			if v, err := currItems(ctx, dial, n.Addr, *timeout); err == nil {
				items[i] = strconv.FormatUint(v, 10)
			}
		}()
	}
	for range nodes {
		<-done
	}
	fmt.Fprintf(stdout, "epoch %d\n", top.Epoch)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tZONE\tADDR\tSTATE\tITEMS")
	for i, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.ID, n.Zone, n.Addr, n.EffectiveState(), items[i])
	}
	return tw.Flush()
}

// nodeDial is the node config that reaches the cache ports as the --tls-*
// flags say, authenticating with the credentials in authFile (--auth-file;
// empty: none).
func nodeDial(tf tlsflag.Client, authFile string) (nodeclient.Config, error) {
	cfg, err := tf.Config()
	if err != nil {
		return nodeclient.Config{}, usageError{err.Error()}
	}
	auth, err := authfile.Credentials(authFile)
	if err != nil {
		return nodeclient.Config{}, err
	}
	return nodeclient.Config{TLS: cfg, Auth: auth}, nil
}

// currItems reads curr_items from a node's `stats`.
func currItems(ctx context.Context, dial nodeclient.Config, addr string, timeout time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial.Dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	r := bufio.NewReader(c)
	if err := nodeclient.Authenticate(c, r, dial.Auth); err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		return 0, err
	}
	var v uint64
	found := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "END":
			if !found {
				return 0, errors.New("no curr_items in stats")
			}
			return v, nil
		case len(f) == 3 && f[0] == "STAT" && f[1] == "curr_items":
			if v, err = strconv.ParseUint(f[2], 10, 64); err != nil {
				return 0, err
			}
			found = true
		case len(f) == 0 || f[0] != "STAT":
			return 0, fmt.Errorf("stats: unexpected %q", strings.TrimSpace(line))
		}
	}
}

func promote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("promote", "promote --admin HOST:PORT [--to serving] [--admin-token-file FILE]", stderr)
	adminAddr := fs.String("admin", "", "admin HTTP address (host:port or URL) of the node to change (required)")
	tokenFile := tokenFileFlag(fs)
	to := fs.String("to", string(replication.Serving), "state to move the node to: joining, warming, serving or draining")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on the request")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *adminAddr == "" {
		return usageError{"--admin is required"}
	}
	if !replication.NodeState(*to).Valid() {
		return usageError{fmt.Sprintf("--to %q: want joining, warming, serving or draining", *to)}
	}
	token, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	node := &admin.Client{Addr: *adminAddr, Token: token}
	state, err := node.SetState(ctx, replication.NodeState(*to))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", *adminAddr, state)
	return nil
}
