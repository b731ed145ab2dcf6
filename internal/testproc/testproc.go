package testproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long a started process may take to accept TCP
// connections.
const StartTimeout = 15 * time.Second

// Process is a cache server started for a test. It is stopped (SIGKILL) when
// the test ends, whatever state it is in.
type Process struct {
	// Addr is host:port where the process listens.
	Addr string
	// Host and Port are Addr split.
	Host string
	Port int

	cmd    *exec.Cmd
	out    *SyncBuffer
	waited chan struct{}
	err    error
}

// handedOut holds the ports FreePort returned in this process. The kernel
// may give a port just probed and closed to the next bind(0), so two servers
// started at once could be told the same one; one then fails to listen
// while the check that it listens reaches the other. Ports belong to the
// whole process, hence a package-level set.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a TCP port on host that was free when it was checked and
// that it has not returned before in this process.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	for range 1000 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("testproc: pick a free port on %s: %v", host, err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		handedOut.Lock()
		fresh := !handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if fresh {
			return port
		}
	}
	t.Fatalf("testproc: no port on %s that was not handed out before", host)
	return 0
}

// RequireMemcached skips the test when memcached is not installed, unless it
// runs under CI, where a missing memcached fails the test.
func RequireMemcached(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("memcached")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testproc: memcached is not installed; `make test` installs it (apt-get install memcached)")
		}
		t.Skip("testproc: memcached not installed (run `make test` to install it)")
	}
	return path
}

// StartMemcached starts Debian's memcached on 127.0.0.1 and a free port, with
// UDP off and the given extra arguments (for example "-m", "64").
func StartMemcached(t testing.TB, args ...string) *Process {
	t.Helper()
	return StartMemcachedOn(t, "127.0.0.1", args...)
}

// StartMemcachedOn is StartMemcached on a chosen loopback host such as
// 127.0.0.2.
func StartMemcachedOn(t testing.TB, host string, args ...string) *Process {
	t.Helper()
	bin := RequireMemcached(t)
	return start(t, host, func(port int) (string, []string) {
		a := []string{"-l", host, "-p", strconv.Itoa(port), "-U", "0"}
		if os.Geteuid() == 0 {
			a = append(a, "-u", "root")
		}
		return bin, append(a, args...)
	})
}

// StartZonecached builds cmd/zonecached (once per test binary) and starts it
// on 127.0.0.1 and a free port with the given extra arguments. The admin
// HTTP listener is disabled unless the arguments set one; a fleet node
// (--zone) gossips unencrypted (--gossip-insecure) unless they give
// --gossip-key-file.
func StartZonecached(t testing.TB, args ...string) *Process {
	t.Helper()
	return StartZonecachedOn(t, "127.0.0.1", args...)
}

// StartZonecachedOn is StartZonecached on a chosen loopback host.
func StartZonecachedOn(t testing.TB, host string, args ...string) *Process {
	t.Helper()
	bin := ZonecachedBinary(t)
	return start(t, host, func(port int) (string, []string) {
		a := []string{"-l", host, "-p", strconv.Itoa(port)}
		if !hasFlag(args, "--admin-addr") && !hasFlag(args, "-admin-addr") {
			a = append(a, "--admin-addr", "")
		}
		if hasFlag(args, "--zone") && !hasFlag(args, "--gossip-key-file") && !hasFlag(args, "--gossip-insecure") {
			a = append(a, "--gossip-insecure")
		}
		return bin, append(a, args...)
	})
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// ZonecachedBinary returns the path of a zonecached binary built from this
// module's source, building it on first use.
func ZonecachedBinary(t testing.TB) string {
	t.Helper()
	return Binary(t, "zonecached")
}

var binaries sync.Map // command name -> *builtBinary

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// Binary builds ./cmd/<name> of this module once per test binary and returns
// the executable's path.
func Binary(t testing.TB, name string) string {
	t.Helper()
	v, _ := binaries.LoadOrStore(name, &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			b.err = err
			return
		}
		dir, err := os.MkdirTemp("", "zonecache-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("testproc: %v", b.err)
	}
	return b.path
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the zonecache module")
	}
	return filepath.Dir(gomod), nil
}

// start launches a server on a free port, retrying with another port if the
// chosen one was taken in between, and waits until it accepts connections.
func start(t testing.TB, host string, command func(port int) (string, []string)) *Process {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := FreePort(t, host)
		bin, args := command(port)
		p, err := launch(host, port, bin, args)
		if err == nil {
			t.Cleanup(p.kill)
			return p
		}
		lastErr = err
	}
	t.Fatalf("testproc: start server on %s: %v", host, lastErr)
	return nil
}

func launch(host string, port int, bin string, args []string) (*Process, error) {
	p := &Process{
		Addr:   net.JoinHostPort(host, strconv.Itoa(port)),
		Host:   host,
		Port:   port,
		out:    &SyncBuffer{},
		waited: make(chan struct{}),
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.waited)
	}()
	if err := p.waitListening(StartTimeout); err != nil {
		p.kill()
		return nil, fmt.Errorf("%s %s: %w; output:\n%s", bin, strings.Join(args, " "), err, p.out.String())
	}
	return p, nil
}

func (p *Process) waitListening(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.waited:
			return fmt.Errorf("exited before listening: %v", p.err)
		default:
		}
		c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %v: %w", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the process has written to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() { p.kill() }

func (p *Process) kill() {
	select {
	case <-p.waited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a frozen process must be able to die
	_ = p.cmd.Process.Kill()
	<-p.waited
}

// Freeze stops the process with SIGSTOP (sockets open, nothing answers, like
// a hung host) and returns once /proc shows every thread stopped: a signal
// lands only when the process is next scheduled, so a request sent after
// Freeze could otherwise still be served on a loaded machine.
func (p *Process) Freeze() error {
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	if _, err := os.Stat("/proc/self/task"); err != nil {
		return nil // no /proc: nothing to wait on
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.stopped() {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped 10 s after SIGSTOP", p.Pid())
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// stopped reports whether every thread of the process is in state T
// (stopped) in /proc.
func (p *Process) stopped() bool {
	dir := fmt.Sprintf("/proc/%d/task", p.Pid())
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			return false
		}
		// pid (comm) state ...: the state follows the comm's last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Thaw resumes a frozen process with SIGCONT.
func (p *Process) Thaw() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// Terminate sends SIGTERM and waits up to timeout for the process to exit,
// returning its exit error (nil for exit status 0).
func (p *Process) Terminate(timeout time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return p.Wait(timeout)
}

// Wait waits up to timeout for the process to exit and returns its exit error.
func (p *Process) Wait(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case <-p.waited:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("process %d still running after %v", p.Pid(), timeout)
	}
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.waited:
		return true
	default:
		return false
	}
}

// RSSBytes reads the process's resident set size from /proc.
func (p *Process) RSSBytes() (int64, error) { return RSSBytes(p.Pid()) }

// RSSBytes reads a process's resident set size (VmRSS) from /proc.
func RSSBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("VmRSS not found")
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (processes'
// output, a command running in another goroutine) and readers. The zero
// value is ready to use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
