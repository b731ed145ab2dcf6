package serverbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 15 * time.Second

// Server is one server process under test.
type Server struct {
	Name string
	Addr string
	// AdminAddr is zonecached's admin listener (/metrics, /debug/pprof
	// with --pprof); empty for memcached.
	AdminAddr string

	cmd    *exec.Cmd
	out    *os.File // the process's stdout and stderr, for start errors
	waited chan struct{}
	err    error
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop kills the server, waits for it to exit and removes its output file.
func (s *Server) Stop() {
	select {
	case <-s.waited:
	default:
		_ = s.cmd.Process.Kill()
		<-s.waited
	}
	s.out.Close()
	os.Remove(s.out.Name())
}

// startMemcached starts memcached with -m megabytes and -t threads.
func startMemcached(ctx context.Context, bin string, megabytes, threads int) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0",
		"-m", strconv.Itoa(megabytes), "-t", strconv.Itoa(threads), "-c", "4096"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // memcached refuses to run as root without it
	}
	return launch(ctx, "memcached", bin, args, port, "")
}

// startZonecached starts zonecached with -m megabytes, -t threads (its
// GOMAXPROCS) and pprof on its admin listener.
func startZonecached(ctx context.Context, bin string, megabytes, threads int) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	admin := net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(megabytes),
		"-c", "4096", "-t", strconv.Itoa(threads), "--admin-addr", admin, "--pprof", "--log-level", "warn"}
	return launch(ctx, "zonecached", bin, args, port, admin)
}

func launch(ctx context.Context, name, bin string, args []string, port int, admin string) (*Server, error) {
	s := &Server{Name: name, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), AdminAddr: admin,
		waited: make(chan struct{})}
	out, err := os.CreateTemp("", name+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s.out = out
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		out.Close()
		os.Remove(out.Name())
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.waited)
	}()
	if err := s.waitListening(ctx); err != nil {
		logged, _ := os.ReadFile(out.Name())
		s.Stop()
		return nil, fmt.Errorf("%s: %w; output:\n%s", name, err, logged)
	}
	return s, nil
}

// waitListening polls until the server accepts a connection.
func (s *Server) waitListening(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		select {
		case <-s.waited:
			return fmt.Errorf("exited before listening: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("not listening: %w", errors.Join(ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
