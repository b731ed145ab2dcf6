package serverbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zonecache/zonecache/internal/bench"
)

// Load is one load generator run against a server.
type Load interface {
	// Name labels the load in the report.
	Name() string
	// Run drives the server at addr and returns what it measured.
	Run(ctx context.Context, addr string) (Measure, error)
}

// Measure is what a Load measured in one run.
type Measure struct {
	Ops     int64
	Elapsed time.Duration
	P99     time.Duration
	// GenCPU is the load generator's own user + system CPU time.
	GenCPU time.Duration
}

// Config is a side-by-side run. Zero fields take the defaults noted.
type Config struct {
	Memcached  string // memcached binary; default /usr/bin/memcached
	Zonecached string // zonecached binary; required
	Megabytes  int    // -m of both servers; default 1024
	Threads    int    // memcached -t and zonecached -t (its GOMAXPROCS); default 2
	Rounds     int    // default 3
	Loads      []Load // run in this order each round
	// ProfileDir, when set, receives a CPU profile of zonecached under each
	// load of the first round, from its admin listener's /debug/pprof.
	ProfileDir string
}

// Sample is one load run against one server.
type Sample struct {
	Load, Server string
	Round        int
	Measure
	// ServerUser and ServerSystem are the server process's user and
	// system CPU time in the run.
	ServerUser, ServerSystem time.Duration
	// ServerSwitches counts the times the server's threads stopped
	// running in the run (bench.ProcessSwitches): its wake-ups.
	ServerSwitches int64
}

// TPS is operations per second.
func (s Sample) TPS() float64 { return float64(s.Ops) / s.Elapsed.Seconds() }

// CPUPerOp is the server's user + system CPU time per operation.
func (s Sample) CPUPerOp() time.Duration { return perOp(s.ServerUser+s.ServerSystem, s.Ops) }

// UserPerOp and SystemPerOp are the two parts of CPUPerOp: the server's
// own code and the kernel's work for it.
func (s Sample) UserPerOp() time.Duration { return perOp(s.ServerUser, s.Ops) }

// SystemPerOp is the kernel's CPU for the server per operation (see
// UserPerOp).
func (s Sample) SystemPerOp() time.Duration { return perOp(s.ServerSystem, s.Ops) }

// SwitchesPerOp is the server's context switches per operation.
func (s Sample) SwitchesPerOp() float64 {
	if s.Ops == 0 {
		return 0
	}
	return float64(s.ServerSwitches) / float64(s.Ops)
}

// GenCPUPerOp is the load generator's CPU time per operation.
func (s Sample) GenCPUPerOp() time.Duration { return perOp(s.GenCPU, s.Ops) }

func perOp(d time.Duration, ops int64) time.Duration {
	if ops == 0 {
		return 0
	}
	return d / time.Duration(ops)
}

// Names of the two servers in Samples.
const (
	Memcached  = "memcached"
	Zonecached = "zonecached"
)

// Run starts memcached and zonecached side by side and runs every load
// against each alternately (the first server alternates by round), Rounds
// times. It reports each sample to progress as it finishes.
func Run(ctx context.Context, cfg Config, progress func(Sample)) ([]Sample, error) {
	cfg = cfg.withDefaults()
	mc, err := startMemcached(ctx, cfg.Memcached, cfg.Megabytes, cfg.Threads)
	if err != nil {
		return nil, err
	}
	defer mc.Stop()
	zc, err := startZonecached(ctx, cfg.Zonecached, cfg.Megabytes, cfg.Threads)
	if err != nil {
		return nil, err
	}
	defer zc.Stop()
	var samples []Sample
	for round := 1; round <= cfg.Rounds; round++ {
		servers := []*Server{mc, zc}
		if round%2 == 0 {
			servers = []*Server{zc, mc}
		}
		for _, load := range cfg.Loads {
			for _, srv := range servers {
				s, err := runOne(ctx, cfg, load, srv, round)
				if err != nil {
					return samples, err
				}
				samples = append(samples, s)
				if progress != nil {
					progress(s)
				}
			}
		}
	}
	return samples, nil
}

func (cfg Config) withDefaults() Config {
	if cfg.Memcached == "" {
		cfg.Memcached = "/usr/bin/memcached"
	}
	if cfg.Megabytes == 0 {
		cfg.Megabytes = 1024
	}
	if cfg.Threads == 0 {
		cfg.Threads = 2
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 3
	}
	return cfg
}

// runOne runs load against srv, reading the server's CPU time around it.
func runOne(ctx context.Context, cfg Config, load Load, srv *Server, round int) (Sample, error) {
	s := Sample{Load: load.Name(), Server: srv.Name, Round: round}
	user0, sys0, err := bench.ProcessCPUTimes(srv.Pid())
	if err != nil {
		return s, err
	}
	sw0, err := bench.ProcessSwitches(srv.Pid())
	if err != nil {
		return s, err
	}
	profDone := make(chan error, 1)
	profiling := cfg.ProfileDir != "" && round == 1 && srv.AdminAddr != ""
	if profiling {
		go func() { profDone <- saveProfile(ctx, srv.AdminAddr, cfg.ProfileDir, load.Name()) }()
	}
	s.Measure, err = load.Run(ctx, srv.Addr)
	if err != nil {
		return s, fmt.Errorf("%s against %s: %w", load.Name(), srv.Name, err)
	}
	user1, sys1, err := bench.ProcessCPUTimes(srv.Pid())
	if err != nil {
		return s, err
	}
	sw1, err := bench.ProcessSwitches(srv.Pid())
	if err != nil {
		return s, err
	}
	s.ServerUser, s.ServerSystem = user1-user0, sys1-sys0
	s.ServerSwitches = sw1 - sw0
	if profiling {
		if err := <-profDone; err != nil {
			return s, err
		}
	}
	return s, nil
}

// A CPU profile starts profileAfter into a load, once memcaslap has
// connected and filled its window, and samples profileSeconds.
const (
	profileAfter   = time.Second
	profileSeconds = 3
)

// saveProfile saves a CPU profile of the zonecached at admin into dir.
func saveProfile(ctx context.Context, admin, dir, load string) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(profileAfter):
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, profileSeconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %w: %s", errors.New("admin answered"), resp.Status)
	}
	name := strings.NewReplacer(" ", "_", "×", "x", ",", "").Replace(load) + ".pprof"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile: %w", err)
	}
	return f.Close()
}
