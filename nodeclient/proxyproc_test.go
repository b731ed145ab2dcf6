package nodeclient

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/faultproxy"
)

// proxyProc is a fault proxy (internal/faultproxy) running in a process of
// its own, this test binary started again: a proxy inside the test process
// would share its CPU and scheduler with a saturating client, and stall
// with it, which the node behind it does not.
type proxyProc struct {
	addr  string
	cmd   *exec.Cmd
	stdin *os.File
	out   *bufio.Reader
}

const proxyTargetEnv = "ZONECACHE_TEST_PROXY_TARGET"

// startProxyProc starts a proxy process in front of target with delay d.
func startProxyProc(t *testing.T, target string, d time.Duration) *proxyProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyProcess$")
	cmd.Env = append(os.Environ(), proxyTargetEnv+"="+target)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = stdinR
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = stdinR.Close()
	p := &proxyProc{cmd: cmd, stdin: stdinW}
	t.Cleanup(func() {
		_ = stdinW.Close() // the process exits at EOF
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	p.out = bufio.NewReader(out)
	line, err := p.out.ReadString('\n')
	if !strings.HasPrefix(line, "addr ") {
		t.Fatalf("proxy process: %q %v", line, err)
	}
	p.addr = strings.TrimSpace(strings.TrimPrefix(line, "addr "))
	p.setDelay(t, d)
	return p
}

// setDelay changes the proxy's delay for the replies it reads from now on,
// and returns once the proxy has applied it.
func (p *proxyProc) setDelay(t *testing.T, d time.Duration) {
	t.Helper()
	if _, err := fmt.Fprintf(p.stdin, "%d\n", d); err != nil {
		t.Fatalf("proxy process: %v", err)
	}
	if line, err := p.out.ReadString('\n'); line != "ok\n" {
		t.Fatalf("proxy process: %q %v", line, err)
	}
}

// TestProxyProcess is the body of a proxy process (startProxyProc): it
// skips unless started as one. It prints "addr <address>", then sets the
// delay to each number of nanoseconds read from stdin (answering "ok"),
// and exits at EOF.
func TestProxyProcess(t *testing.T) {
	target := os.Getenv(proxyTargetEnv)
	if target == "" {
		t.Skip("not a proxy process")
	}
	px, err := faultproxy.New(target)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("addr", px.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var d time.Duration
		if _, err := fmt.Sscan(sc.Text(), &d); err == nil {
			px.SetDelay(d)
			fmt.Println("ok")
		}
	}
	_ = px.Close()
	os.Exit(0)
}
