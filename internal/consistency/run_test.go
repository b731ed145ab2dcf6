package consistency

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// strict lists the faults whose short form must show no stale read, no
// lost write and no caller error, reads during a write's own in-flight time
// allowed (the client's documented window). Every fault is held to it: on
// merged main the short forms report 0, 0, 0 in every run (before the
// fixes: kill9 5, sigstop 57 and 266, zone-cut 77 and 1,197, join-drain 145,
// writer-exit 1,673 and 1,749, gossip-partition 120 stale reads). A fault
// that regresses can be switched off here with the reason.
var strict = map[Fault]bool{
	Kill9:           true,
	Freeze:          true,
	ZoneCut:         true,
	JoinDrain:       true,
	WriterExit:      true,
	GossipPartition: true,
	ReshardKill:     true,
}

var strictFlag = flag.String("consistency.strict", "", "comma-separated faults to hold to 0 stale reads, 0 lost writes and 0 caller errors in addition to those switched on in the code (all: every one)")

func isStrict(f Fault) bool {
	return strict[f] || *strictFlag == "all" || strings.Contains(","+*strictFlag+",", ","+string(f)+",")
}

// injected is what a fault's report must show as observed evidence that
// the fault really happened.
var injected = map[Fault]*regexp.Regexp{
	Kill9:           regexp.MustCompile(`a-2 \(pid \d+\) killed with SIGKILL; \S+ refuses connections(?s).*a-2 restarted empty`),
	Freeze:          regexp.MustCompile(`a-2 \(pid \d+\) frozen with SIGSTOP: /proc state T(?s).*thawed \(SIGCONT\): /proc state [^T]`),
	ZoneCut:         regexp.MustCompile(`zone c cut off: link \S+ in namespace zcc-\S+ down at \S+s, a dial to c-1 \S+ times out(?s).*zone c healed: link up`),
	JoinDrain:       regexp.MustCompile(`a-3 joined zone a serving(?s).*a-3 set to draining.*a-3 gone from the writer's topology`),
	WriterExit:      regexp.MustCompile(`zone c down: c-1 and c-2 frozen(?s).*writer process \(pid \d+\) killed with SIGKILL: signal: killed; it last reported [1-9]\d* repairs pending.*new writer process \(pid \d+\) started on the same repair spool: took over [1-9]\d* repairs.*new writer process's repair requests: [1-9]\d* succeeded`),
	GossipPartition: regexp.MustCompile(`zone c cut off: link(?s).*a-1 dropped zone c after \S+s: epoch \d+, a=a-1,a-2 b=b-1,b-2\n.*zone c healed: link up`),
	ReshardKill:     regexp.MustCompile(`a-3 started warming in zone a(?s).*reshard planned \([1-9]\d* keys move to a-3\).*a-3 \(pid \d+\) killed with SIGKILL mid-copy.*the copy stopped: .*a-3 restarted empty, warming.*reshard resumed from its checkpoint after intermediate and done; a-3 serving in every client`),
}

// TestShortFormOfEveryFault runs each fault's short form end to end on a
// fresh fleet of each server kind it applies to, and asserts that the
// fault was really injected (the report's evidence), that the workload
// ran and was verified in every zone, and, for the faults switched on in
// strict, that nothing was stale, lost or failed.
func TestShortFormOfEveryFault(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dozen fleets (about 3 minutes)")
	}
	if !CanUseNetns() {
		t.Skip("needs root and the ip command for the namespace faults")
	}
	memcached := testproc.RequireMemcached(t)
	zonecached := testproc.ZonecachedBinary(t)
	writer := []string{testproc.Binary(t, "zonebench"), "consistency-writer"}
	for _, srv := range []Server{Zonecached, Memcached} {
		for _, f := range Faults {
			if !Applies(f, srv) {
				continue
			}
			t.Run(string(f)+"/"+string(srv), func(t *testing.T) {
				var log strings.Builder
				var nodes testproc.SyncBuffer
				rep, err := Run(context.Background(), RunConfig{
					Fault: f, Server: srv, Zonecached: zonecached, Memcached: memcached,
					WriterCommand: writer, Short: true, AllowInFlight: true, Log: &log, NodeLog: &nodes,
				})
				if err != nil {
					t.Fatalf("run: %v\n%s", err, log.String())
				}
				var out strings.Builder
				_, _ = rep.WriteTo(&out)
				t.Logf("\n%s", out.String())
				checkShortReport(t, f, rep, out.String())
				if t.Failed() {
					t.Logf("the nodes' log, without memberlist's send errors:\n%s", nodeLogDigest(nodes.String(), 400))
				}
			})
		}
	}
}

func checkShortReport(t *testing.T, f Fault, rep *Report, out string) {
	t.Helper()
	if !injected[f].MatchString(strings.Join(rep.Evidence, "\n")) {
		t.Errorf("no evidence the fault was injected: want %v in\n%s", injected[f], strings.Join(rep.Evidence, "\n"))
	}
	if f == WriterExit {
		checkSpoolRemoved(t, rep)
	}
	res := rep.Result
	keys := 50
	if res.Acked < 200 || res.Reads < 1000 || res.VerifyReads != 3*keys {
		t.Errorf("acknowledged %d writes, %d reads, %d verify reads; want >= 200, >= 1000, %d", res.Acked, res.Reads, res.VerifyReads, 3*keys)
	}
	if res.Unverified > 0 {
		t.Errorf("%d keys unverified", res.Unverified)
	}
	if !strings.HasSuffix(strings.TrimSpace(out), strings.TrimPrefix(Summary([]*Report{rep}), "CONSISTENCY: ")) {
		t.Errorf("the report's last line does not carry the counts: %q", out)
	}
	if isStrict(f) && res.Failed() {
		t.Errorf("%s: %d stale reads, %d lost writes, %d caller errors; want 0, 0, 0", f, res.Stale, res.Lost, res.Errors)
	}
}

// spoolEvidence finds the writer processes' repair spool in the evidence.
var spoolEvidence = regexp.MustCompile(`with repair spool (\S+)`)

// checkSpoolRemoved asserts that the run named its repair spool and
// removed it.
func checkSpoolRemoved(t *testing.T, rep *Report) {
	t.Helper()
	m := spoolEvidence.FindStringSubmatch(strings.Join(rep.Evidence, "\n"))
	if m == nil {
		t.Errorf("the evidence does not name the writer's repair spool")
		return
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("repair spool %s left behind after the run (%v)", m[1], err)
	}
}

// TestNetnsCutDropsTrafficAndHealRestoresIt checks the namespace the
// zone cuts use: a server in it is reachable, silent while cut (a dial
// times out, it is not refused), reachable after the heal, and the
// namespace and its link are gone after Close.
func TestNetnsCutDropsTrafficAndHealRestoresIt(t *testing.T) {
	if !CanUseNetns() {
		t.Skip("needs root and the ip command")
	}
	ctx := context.Background()
	n, err := NewNetns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	addr := n.NsAddr + ":11311"
	argv := append(n.Wrap(), testproc.RequireMemcached(t), "-u", "root", "-U", "0", "-l", n.NsAddr, "-p", "11311")
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	testproc.Eventually(t, 10*time.Second, "memcached in the namespace answers", func() bool { return !dialFails(addr, time.Second) })
	if err := n.Cut(ctx); err != nil {
		t.Fatal(err)
	}
	if up, err := n.LinkUp(ctx); err != nil || up {
		t.Fatalf("link up %v (%v) after the cut", up, err)
	}
	start := time.Now()
	if !dialFails(addr, 500*time.Millisecond) || time.Since(start) < 400*time.Millisecond {
		t.Fatalf("a dial during the cut did not time out (took %v)", time.Since(start))
	}
	if err := n.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	testproc.Eventually(t, 10*time.Second, "memcached answers after the heal", func() bool { return !dialFails(addr, time.Second) })
	n.Close()
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), n.Name) || exec.Command("ip", "link", "show", n.HostVeth).Run() == nil {
		t.Fatalf("namespace %s or link %s left behind:\n%s", n.Name, n.HostVeth, out)
	}
}

// TestCleanStaleNetnsRemovesLeftoversOfDeadRuns plants a namespace and a
// link named after a process that has exited, as a killed run leaves them,
// and checks that the next run's cleanup removes them.
func TestCleanStaleNetnsRemovesLeftoversOfDeadRuns(t *testing.T) {
	if !CanUseNetns() {
		t.Skip("needs root and the ip command")
	}
	ctx := context.Background()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	pid := gone.ProcessState.Pid()
	name, link := fmt.Sprintf("zcc-%d-1", pid), fmt.Sprintf("zcc%dx1h", pid)
	if err := ip(ctx, "netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ip(ctx, "netns", "del", name); _ = ip(ctx, "link", "del", link) })
	if err := ip(ctx, "link", "add", link, "type", "veth", "peer", "name", fmt.Sprintf("zcc%dx1n", pid)); err != nil {
		t.Fatal(err)
	}
	CleanStaleNetns(ctx)
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), name) || exec.Command("ip", "link", "show", link).Run() == nil {
		t.Fatalf("leftovers %s / %s of dead pid %d not removed:\n%s", name, link, pid, out)
	}
}

// TestZoneCutFallsBackToFaultProxiesWithoutNamespaces runs the zone cut
// as a process without namespaces does: through fault proxies, said so in
// the report.
func TestZoneCutFallsBackToFaultProxiesWithoutNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a fleet")
	}
	rep, err := Run(context.Background(), RunConfig{Fault: ZoneCut, Server: Memcached, Memcached: testproc.RequireMemcached(t), Short: true, NoNetns: true})
	if err != nil {
		t.Fatal(err)
	}
	ev := strings.Join(rep.Evidence, "\n")
	if !strings.Contains(ev, "zone c's fault proxies hold every response") || !strings.Contains(ev, "pass responses again") {
		t.Errorf("evidence:\n%s", ev)
	}
	if len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "weaker fault than a partition") {
		t.Errorf("notes %q do not say the fallback is weaker", rep.Notes)
	}
	if res := rep.Result; res.Acked < 200 || res.VerifyReads != 150 {
		t.Errorf("acknowledged %d writes, %d verify reads", res.Acked, res.VerifyReads)
	}
}

func TestFaultsThatDoNotApplyAreRefusedBeforeAnyFleetStarts(t *testing.T) {
	for _, cfg := range []RunConfig{
		{Fault: JoinDrain, Server: Memcached},
		{Fault: GossipPartition, Server: Memcached},
		{Fault: ReshardKill, Server: Memcached},
		{Fault: GossipPartition, Server: Zonecached, NoNetns: true},
		{Fault: "meteor", Server: Zonecached},
	} {
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrNotApplicable) {
			t.Errorf("%s on %s (no netns %v): %v, want ErrNotApplicable", cfg.Fault, cfg.Server, cfg.NoNetns, err)
		}
	}
}

// nodeLogNoise matches the node log lines a failure report leaves out:
// debug lines, the start-up lines, memberlist's errors sending to members
// it cannot reach.
var nodeLogNoise = regexp.MustCompile(`level=DEBUG|msg="(member joined|memory bound|admin listening|ownership purge on|zonecached serving|Failed to send|Push/Pull with)`)

// nodeLogDigest returns the last max lines of the nodes' log that say
// something about the fault.
func nodeLogDigest(log string, max int) string {
	var keep []string
	for _, line := range strings.Split(log, "\n") {
		if line != "" && !nodeLogNoise.MatchString(line) {
			keep = append(keep, line)
		}
	}
	if len(keep) > max {
		keep = append([]string{fmt.Sprintf("(%d earlier lines left out)", len(keep)-max)}, keep[len(keep)-max:]...)
	}
	return strings.Join(keep, "\n")
}
