package fleet

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/replication"
)

// Config describes a fleet. Zero fields take the documented defaults.
type Config struct {
	// Binary is the zonecached executable. Required.
	Binary string
	// Zones names the zones. Default a, b, c.
	Zones []string
	// NodesPerZone is the number of nodes in each zone. Default 2.
	NodesPerZone int
	// Host is the loopback address every node listens on. Default 127.0.0.1.
	Host string
	// ZoneHosts overrides Host for the zones it names (a zone placed in a
	// network namespace listens on its veth address).
	ZoneHosts map[string]string
	// ZoneWrap prefixes the command of each node of the zones it names, for
	// example {"ip", "netns", "exec", "ns1"}: the prefix must exec the node
	// (not fork it), so that signals reach the node itself.
	ZoneWrap map[string][]string
	// Memcached says Binary is a stock memcached: nodes start with
	// -l -p -m -U 0 (and -u root as root) only (no admin address, no gossip, Args still added).
	Memcached bool
	// MemoryMB is each node's -m. Default 64.
	MemoryMB int
	// Gossip starts the nodes as one gossiping fleet (--zone, --join, ...),
	// all serving at once. Without it the nodes are standalone and the
	// fleet's topology is only known to this package.
	Gossip bool
	// State is the state gossiping nodes start in. Default serving.
	State string
	// DrainTimeout is each gossiping node's --drain-timeout. Default 5 s.
	DrainTimeout time.Duration
	// GossipKeyFile is the gossiping nodes' --gossip-key-file. Default: a
	// fresh random key written (mode 0600) to a temporary directory that
	// Stop removes; none when Args hold --gossip-insecure.
	GossipKeyFile string
	// Args are extra arguments for every node.
	Args []string
	// Output receives the nodes' logs, each line led by the node's name.
	// Default: discarded.
	Output io.Writer
	// StartTimeout bounds each node's start. Default 15 s.
	StartTimeout time.Duration
}

// Node is one zonecached process of the fleet.
type Node struct {
	// ID is the node's name, zone-index (for example a-1).
	ID string
	// Zone is the node's zone.
	Zone string
	// Addr is the cache address, AdminAddr the admin HTTP address and
	// GossipAddr the gossip address (empty without gossip).
	Addr, AdminAddr, GossipAddr string
	// AdminToken is the bearer token of the node's admin endpoint: the
	// fleet's (Fleet.AdminTokenFile), empty for memcached.
	AdminToken string

	cmd    *exec.Cmd
	argv   []string // the command, for Restart
	output io.Writer
	waited chan struct{}
	err    error
}

// Fleet is a running local fleet.
type Fleet struct {
	cfg       Config
	nodes     []*Node
	once      sync.Once
	tokenDir  string // holds the admin token file; removed by Stop
	token     string
	tokenFile string
	keyDir    string     // holds the generated gossip key, if any
	outputMu  sync.Mutex // one node's line at a time to cfg.Output
}

// ErrStart is wrapped by Start's error when a node did not come up.
var ErrStart = errors.New("fleet: node did not start")

// Start launches every node and waits until each accepts connections. On
// error, the nodes already started are stopped.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if cfg.Binary == "" {
		return nil, errors.New("fleet: Binary is required")
	}
	if len(cfg.Zones) == 0 {
		cfg.Zones = []string{"a", "b", "c"}
	}
	if cfg.NodesPerZone <= 0 {
		cfg.NodesPerZone = 2
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = 64
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	if cfg.State == "" {
		cfg.State = "serving"
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 15 * time.Second
	}
	f := &Fleet{cfg: cfg}
	if err := f.writeSecrets(); err != nil {
		return nil, err
	}
	for _, zone := range cfg.Zones {
		for i := 1; i <= cfg.NodesPerZone; i++ {
			if _, err := f.Add(ctx, zone, fmt.Sprintf("%s-%d", zone, i)); err != nil {
				f.Stop()
				return nil, err
			}
		}
	}
	return f, nil
}

// Add starts one more node with the given zone and id (joining the gossip
// of a running node, when the fleet gossips) and adds it to the fleet.
// Extra arguments come last, so they override the fleet's (for example
// "--state", "warming").
func (f *Fleet) Add(ctx context.Context, zone, id string, extra ...string) (*Node, error) {
	var seed string
	for _, other := range f.nodes {
		if other.Running() {
			seed = other.GossipAddr
			break
		}
	}
	n, err := f.launch(ctx, zone, id, seed, extra)
	if err != nil {
		return nil, err
	}
	f.nodes = append(f.nodes, n)
	return n, nil
}

func (f *Fleet) launch(ctx context.Context, zone, id, seed string, extra []string) (*Node, error) {
	host := f.cfg.Host
	if h, ok := f.cfg.ZoneHosts[zone]; ok {
		host = h
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		probe := host
		if _, wrapped := f.cfg.ZoneWrap[zone]; wrapped {
			probe = "127.0.0.1" // the zone's host is elsewhere (a namespace), where every port is free
		}
		ports, err := freePorts(probe, 3)
		if err != nil {
			return nil, err
		}
		n := &Node{ID: id, Zone: zone, Addr: net.JoinHostPort(host, strconv.Itoa(ports[0])), output: f.cfg.Output}
		if f.cfg.Output != io.Discard {
			n.output = &lineWriter{mu: &f.outputMu, w: f.cfg.Output, prefix: []byte(id + " ")}
		}
		args := []string{"-l", host, "-p", strconv.Itoa(ports[0]), "-m", strconv.Itoa(f.cfg.MemoryMB)}
		if f.cfg.Memcached {
			args = append(args, "-U", "0")
			if os.Geteuid() == 0 {
				args = append(args, "-u", "root") // memcached refuses root otherwise
			}
		} else {
			n.AdminAddr, n.AdminToken = net.JoinHostPort(host, strconv.Itoa(ports[1])), f.token
			args = append(args, "--admin-addr", n.AdminAddr, "--admin-token-file", f.tokenFile)
		}
		if f.cfg.Gossip && !f.cfg.Memcached {
			n.GossipAddr = net.JoinHostPort(host, strconv.Itoa(ports[2]))
			args = append(args, "--zone", zone, "--node-name", id, "--gossip-addr", n.GossipAddr,
				"--state", f.cfg.State, "--gossip-profile", "local", "--drain-timeout", f.cfg.DrainTimeout.String())
			if seed != "" {
				args = append(args, "--join", seed)
			}
			if f.cfg.GossipKeyFile != "" {
				args = append(args, "--gossip-key-file", f.cfg.GossipKeyFile)
			}
		}
		args = append(args, f.cfg.Args...)
		args = append(args, extra...)
		n.argv = append(append(append([]string{}, f.cfg.ZoneWrap[zone]...), f.cfg.Binary), args...)
		if err := n.start(ctx, f.cfg.StartTimeout); err != nil {
			lastErr = err
			continue // most likely a port taken in between: try new ports
		}
		return n, nil
	}
	return nil, lastErr
}

// start runs the node's command and waits until it listens.
func (n *Node) start(ctx context.Context, timeout time.Duration) error {
	n.waited = make(chan struct{})
	n.cmd = exec.Command(n.argv[0], n.argv[1:]...)
	n.cmd.Stdout = n.output
	n.cmd.Stderr = n.output
	// Own process group (Ctrl-C in a terminal reaches only us, and we stop
	// the nodes in order); killed by the kernel if we die.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		close(n.waited)
		return fmt.Errorf("%w: %s: %v", ErrStart, n.ID, err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.waited) }()
	if err := n.waitListening(ctx, timeout); err != nil {
		n.Kill()
		return fmt.Errorf("%w: %s: %v", ErrStart, n.ID, err)
	}
	return nil
}

// Restart starts node n, which has exited, again with the same command:
// the same addresses, empty (a node killed and restarted in place). A
// gossiping node joins through a node running now.
func (f *Fleet) Restart(ctx context.Context, n *Node) error {
	if n.Running() {
		return fmt.Errorf("fleet: restart %s: still running", n.ID)
	}
	if f.cfg.Gossip && !f.cfg.Memcached {
		argv := slices.Clone(n.argv)
		if i := slices.Index(argv, "--join"); i >= 0 {
			argv = slices.Delete(argv, i, i+2)
		}
		for _, other := range f.nodes {
			if other != n && other.Running() {
				argv = append(argv, "--join", other.GossipAddr)
				break
			}
		}
		n.argv = argv
	}
	return n.start(ctx, f.cfg.StartTimeout)
}

// freePorts returns n distinct TCP ports on host that were free when
// checked.
func freePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("fleet: pick a free port on %s: %w", host, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (n *Node) waitListening(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-n.waited:
			return fmt.Errorf("exited: %v", n.err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", n.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v", n.Addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Nodes returns every node, zone by zone.
func (f *Fleet) Nodes() []*Node { return f.nodes }

// Zone returns the nodes of zone.
func (f *Fleet) Zone(zone string) []*Node {
	var out []*Node
	for _, n := range f.nodes {
		if n.Zone == zone {
			out = append(out, n)
		}
	}
	return out
}

// Topology returns the fleet as started: every node serving, epoch 1.
func (f *Fleet) Topology() replication.Topology {
	t := replication.Topology{Epoch: 1}
	for _, n := range f.nodes {
		t.Nodes = append(t.Nodes, replication.Node{ID: n.ID, Zone: n.Zone, Addr: n.Addr, State: replication.Serving})
	}
	return t
}

// AdminAddrs returns every node's admin HTTP address: the seeds a client's
// discovery can start from.
func (f *Fleet) AdminAddrs() []string {
	out := make([]string, len(f.nodes))
	for i, n := range f.nodes {
		out[i] = n.AdminAddr
	}
	return out
}

// KillZone kills every node of zone at once (SIGKILL), as a lost zone.
func (f *Fleet) KillZone(zone string) {
	var wg sync.WaitGroup
	for _, n := range f.Zone(zone) {
		wg.Add(1)
		go func() { defer wg.Done(); n.Kill() }()
	}
	wg.Wait()
}

// Stop terminates every node (SIGTERM, then SIGKILL after 5 s) and waits
// for all of them. It is safe to call more than once.
func (f *Fleet) Stop() {
	f.once.Do(func() {
		var wg sync.WaitGroup
		for _, n := range f.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.Terminate(5 * time.Second); err != nil {
					n.Kill()
				}
			}()
		}
		wg.Wait()
		if f.tokenDir != "" {
			_ = os.RemoveAll(f.tokenDir)
		}
		if f.keyDir != "" {
			_ = os.RemoveAll(f.keyDir)
		}
	})
}

// writeSecrets writes the admin token of a zonecached fleet and the
// gossip key of a gossiping one.
func (f *Fleet) writeSecrets() error {
	if !f.cfg.Memcached {
		if err := f.writeToken(); err != nil {
			return err
		}
	}
	return f.gossipKey()
}

// writeToken writes a new random admin token to a file of mode 0600 in a
// directory of its own.
func (f *Fleet) writeToken() error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("fleet: admin token: %w", err)
	}
	dir, err := os.MkdirTemp("", "zonecache-fleet-")
	if err != nil {
		return fmt.Errorf("fleet: admin token: %w", err)
	}
	file := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(file, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("fleet: admin token: %w", err)
	}
	f.tokenDir, f.token, f.tokenFile = dir, hex.EncodeToString(b), file
	return nil
}

// AdminTokenFile is the file holding the admin token every zonecached
// node of the fleet wants on changes (--admin-token-file), for a CLI; the
// nodes' Admin clients carry it already. It is removed by Stop.
func (f *Fleet) AdminTokenFile() string { return f.tokenFile }

// GossipKeyFile is the gossip key file the fleet's nodes start with
// (empty: gossip unencrypted, or no gossip).
func (f *Fleet) GossipKeyFile() string { return f.cfg.GossipKeyFile }

// gossipKey generates the gossip key file of a gossiping fleet that was
// given none and does not gossip in clear text.
func (f *Fleet) gossipKey() error {
	c := f.cfg
	if !c.Gossip || c.Memcached || c.GossipKeyFile != "" || slices.Contains(c.Args, "--gossip-insecure") {
		return nil
	}
	var err error
	f.keyDir, f.cfg.GossipKeyFile, err = newKeyFile()
	return err
}

// newKeyFile writes a random 32-byte gossip key, base64, to a file of mode
// 0600 in a new temporary directory.
func newKeyFile() (dir, path string, err error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	if dir, err = os.MkdirTemp("", "zonecache-fleet-key-"); err != nil {
		return "", "", fmt.Errorf("fleet: gossip key: %w", err)
	}
	path = filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("fleet: gossip key: %w", err)
	}
	return dir, path, nil
}

// Admin returns the client of the node's admin endpoint.
func (n *Node) Admin() *admin.Client { return &admin.Client{Addr: n.AdminAddr, Token: n.AdminToken} }

// Pid is the node's process id.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// Running reports whether the process has not exited.
func (n *Node) Running() bool {
	select {
	case <-n.waited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (after SIGCONT, so a frozen node dies too) and waits.
func (n *Node) Kill() {
	if !n.Running() {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGCONT)
	_ = n.cmd.Process.Kill()
	<-n.waited
}

// Freeze stops the node with SIGSTOP: its sockets stay open, nothing
// answers. Thaw resumes it.
func (n *Node) Freeze() error { return n.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen node with SIGCONT.
func (n *Node) Thaw() error { return n.cmd.Process.Signal(syscall.SIGCONT) }

// Terminate sends SIGTERM and waits up to timeout for the node to exit.
func (n *Node) Terminate(timeout time.Duration) error {
	if !n.Running() {
		return nil
	}
	_ = n.cmd.Process.Signal(syscall.SIGCONT)
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-n.waited:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("fleet: %s still running %v after SIGTERM", n.ID, timeout)
	}
}

// StopNode stops node id with SIGTERM and waits up to timeout for it to
// exit (Node.Terminate).
func (f *Fleet) StopNode(id string, timeout time.Duration) error {
	for _, n := range f.nodes {
		if n.ID == id {
			return n.Terminate(timeout)
		}
	}
	return fmt.Errorf("fleet: no node %s", id)
}
