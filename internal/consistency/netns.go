package consistency

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// netnsPrefix starts the name of every namespace and host-side veth the
// checker makes: "zcc-<pid>-<seq>" and "zcc<pid>x<seq>", so that leftovers
// of a killed run can be told by their dead pid.
const netnsPrefix = "zcc"

// netnsSeq makes names unique within the process.
var netnsSeq atomic.Uint32

// Netns is a network namespace joined to the host's by a veth pair: a zone
// placed in it listens on NsAddr, the rest of the fleet on HostAddr, and
// Cut takes the link down, silently dropping everything between them,
// until Heal. Addresses come from 198.18.0.0/15, the benchmarking range.
type Netns struct {
	Name     string
	HostVeth string
	NsVeth   string
	HostAddr string
	NsAddr   string
}

// CanUseNetns reports whether this process may make namespaces (root with
// the ip command).
func CanUseNetns() bool {
	_, err := exec.LookPath("ip")
	return os.Geteuid() == 0 && err == nil
}

// NewNetns removes the leftovers of killed runs, then makes a namespace
// and its link, up.
func NewNetns(ctx context.Context) (*Netns, error) {
	CleanStaleNetns(ctx)
	pid := os.Getpid()
	seq := netnsSeq.Add(1)
	idx := (uint32(pid)*16 + seq) % (1 << 15) // /30 blocks of the /15
	base := netip.AddrFrom4([4]byte{198, 18 + byte(idx>>14), byte(idx >> 6), byte(idx<<2) & 0xff})
	n := &Netns{
		Name:     fmt.Sprintf("%s-%d-%d", netnsPrefix, pid, seq),
		HostVeth: fmt.Sprintf("%s%dx%dh", netnsPrefix, pid, seq),
		NsVeth:   fmt.Sprintf("%s%dx%dn", netnsPrefix, pid, seq),
		HostAddr: base.Next().String(),
		NsAddr:   base.Next().Next().String(),
	}
	steps := [][]string{
		{"netns", "add", n.Name},
		{"link", "add", n.HostVeth, "type", "veth", "peer", "name", n.NsVeth},
		{"link", "set", n.NsVeth, "netns", n.Name},
		{"addr", "add", n.HostAddr + "/30", "dev", n.HostVeth},
		{"link", "set", n.HostVeth, "up"},
		{"-n", n.Name, "addr", "add", n.NsAddr + "/30", "dev", n.NsVeth},
		{"-n", n.Name, "link", "set", n.NsVeth, "up"},
		{"-n", n.Name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Wrap is the command prefix that runs a program inside the namespace.
func (n *Netns) Wrap() []string { return []string{"ip", "netns", "exec", n.Name} }

// Cut takes the namespace's end of the link down: packets both ways are
// dropped without an answer, as in a partition.
func (n *Netns) Cut(ctx context.Context) error {
	return ip(ctx, "-n", n.Name, "link", "set", n.NsVeth, "down")
}

// Heal brings the link back up.
func (n *Netns) Heal(ctx context.Context) error {
	return ip(ctx, "-n", n.Name, "link", "set", n.NsVeth, "up")
}

// LinkUp reports the namespace end's state as the kernel sees it.
func (n *Netns) LinkUp(ctx context.Context) (bool, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", n.Name, "-o", "link", "show", n.NsVeth).Output()
	if err != nil {
		return false, fmt.Errorf("ip link show %s: %w", n.NsVeth, err)
	}
	flags, _, _ := strings.Cut(string(out), ">")
	return strings.Contains(flags, ",UP"), nil
}

// Close deletes the namespace and its link.
func (n *Netns) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ip(ctx, "netns", "del", n.Name)
	_ = ip(ctx, "link", "del", n.HostVeth) // gone with its peer, normally
}

// CleanStaleNetns deletes namespaces and host-side veths this package made
// in processes that no longer run.
func CleanStaleNetns(ctx context.Context) {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			rest, ok := strings.CutPrefix(name, netnsPrefix+"-")
			pid, _, _ := strings.Cut(rest, "-")
			if ok && dead(pid) {
				_ = ip(ctx, "netns", "del", name)
			}
		}
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		rest, ok := strings.CutPrefix(i.Name, netnsPrefix)
		pid, _, found := strings.Cut(rest, "x")
		if ok && found && dead(pid) {
			_ = ip(ctx, "link", "del", i.Name)
		}
	}
}

// dead reports whether pid names no running process.
func dead(pid string) bool {
	p, err := strconv.Atoi(pid)
	if err != nil || p <= 0 {
		return false
	}
	_, err = os.Stat("/proc/" + strconv.Itoa(p))
	return errors.Is(err, os.ErrNotExist)
}

// dialFails reports whether a TCP dial to addr fails within timeout.
func dialFails(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err == nil {
		c.Close()
	}
	return err != nil
}
